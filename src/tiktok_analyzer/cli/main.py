"""``tiktok-analyzer``: analyze a file in one process, or run the streaming system on Kafka."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from tiktok_analyzer.shared.contracts.topics import Service

# Exit codes of `analyze` (documented in the README).
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3

SERVICES = tuple(str(s) for s in Service)


def _quiet_libraries() -> None:
    # Offline at run time: no hub look-ups, no ultralytics settings nagging on stdout.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    # numba's compiled kernels (librosa's pyin and beat tracking) kept between runs in the
    # user's cache, also where the installed packages are read-only.
    os.environ.setdefault("NUMBA_CACHE_DIR",
                          str(Path.home() / ".cache" / "tiktok-analyzer" / "numba"))


def summary_text(report_json: dict[str, Any]) -> str:
    """A short human-readable summary of a final report."""
    lines = [f"video {report_json['video_id']}: {report_json['status']}"]
    if report_json.get("reason"):
        lines.append(f"  reason: {report_json['reason']}")
    media = report_json.get("media") or {}
    if media:
        lines.append(f"  media: {media.get('width')}x{media.get('height')} "
                     f"{media.get('duration_s') or 0:.1f}s {media.get('video_codec')}/"
                     f"{media.get('audio_codec')}")
    for warning in report_json.get("warnings", []):
        lines.append(f"  warning: {warning}")
    for key, section in report_json.get("analyzers", {}).items():
        detail = section.get("reason") or ""
        lines.append(f"  {key:<16} {section['status']:<8} {section['elapsed_s']:7.2f}s "
                     f"{detail[:110]}")
    summary = report_json.get("summary") or {}
    for key, value in summary.items():
        if value is not None and key != "unavailable":
            lines.append(f"  {key}: {value}")
    hook = (report_json.get("analyzers", {}).get("hook") or {}).get("summary") or {}
    shown = {k: v for k, v in hook.items() if v is not None and not isinstance(v, dict | list)}
    if shown:
        lines.append(f"  hook (the opening seconds): {shown}")
    return "\n".join(lines)


def cmd_analyze(args: argparse.Namespace) -> int:
    from tiktok_analyzer.cli.analyze import run

    return run(args.files, args.out, args.quiet)


def cmd_view(args: argparse.Namespace) -> int:
    from tiktok_analyzer.cli.view import load_report, open_in_browser, write_page

    try:
        report = load_report(args.report)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.video is not None and not args.video.is_file():
        print(f"error: no such file: {args.video}", file=sys.stderr)
        return EXIT_USAGE
    page = write_page(report, args.report, args.video)
    if page is None:
        return EXIT_ERROR
    print(page)
    if not args.no_open and not open_in_browser(page):
        print("no browser to show it here: open the file above", file=sys.stderr)
    return EXIT_OK


def cmd_sample(args: argparse.Namespace) -> int:
    from tiktok_analyzer.cli.sample import make_video

    red, green, blue = (int(args.color[i:i + 2], 16) for i in (1, 3, 5))
    make_video(args.path, duration_s=args.duration, width=args.width, height=args.height,
               fps=args.fps, color=(red, green, blue), pattern=args.pattern, bpm=args.bpm)
    print(args.path)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    path = args.file
    if path is None:
        path = args.out / "sample.mp4"
        print(f"no file given: generating a 10 s sample (red, click track at 120 BPM) at {path}",
              file=sys.stderr)
        from tiktok_analyzer.cli.sample import make_video

        make_video(path, duration_s=10, color=(220, 30, 30), bpm=120)
    args.files = [path]
    return cmd_analyze(args)


def cmd_stack(args: argparse.Namespace) -> int:
    from tiktok_analyzer.cli import stack

    if args.action == "up":
        stack.up(secure=True if args.secure else None)
    elif args.action == "down":
        stack.down(wipe=args.wipe)
    else:
        print(json.dumps(stack.status()))
    return EXIT_OK


def cmd_init(args: argparse.Namespace) -> int:
    from tiktok_analyzer.cli import init_infra

    return init_infra.run_from_args(args)


def cmd_services(args: argparse.Namespace) -> int:
    from tiktok_analyzer.cli.services import ServiceSet

    with ServiceSet(args.only or SERVICES, log_dir=args.log_dir) as services:
        services.wait_ready()
        print(f"running {', '.join(services.names)}; logs in {args.log_dir}; Ctrl-C stops",
              file=sys.stderr)
        with contextlib.suppress(KeyboardInterrupt):
            services.wait()
    return EXIT_OK


def cmd_submit(args: argparse.Namespace) -> int:
    import asyncio

    from tiktok_analyzer.cli.submit import submit_and_wait

    report = asyncio.run(submit_and_wait(args.file, key=args.key, timeout=args.timeout))
    if report is None:
        print(f"no report within {args.timeout}s", file=sys.stderr)
        return EXIT_ERROR
    data = json.loads(report.model_dump_json())
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{report.video_id}.report.json").write_text(json.dumps(data, indent=2))
    print(summary_text(data))
    return EXIT_REJECTED if report.status == "rejected" else EXIT_OK


def cmd_chaos(args: argparse.Namespace) -> int:
    from tiktok_analyzer.cli.chaos import Faults, run_chaos

    faults = Faults(kills_per_service=args.kills_per_service, together=args.kill_together,
                    together_rounds=args.together_rounds if args.kill_together else 0,
                    broker_restarts=args.restart_broker, minio_restarts=args.restart_minio,
                    pause_s=(min(args.outage_s), max(args.outage_s)))
    result = run_chaos(args.videos, faults, args.log_dir, seed=args.seed,
                       timeout_s=args.timeout, settle_s=args.settle)
    print(result.line())
    return EXIT_OK if result.ok else EXIT_ERROR


def cmd_gate(args: argparse.Namespace) -> int:
    """The media gate alone, on local files: what ingest would decide, without the pipeline."""
    from tiktok_analyzer.ingest.gate import gate_file
    from tiktok_analyzer.shared.errors import MediaRejected

    rejected = 0
    for path in args.files:
        try:
            media, warnings = gate_file(path)
        except MediaRejected as exc:
            rejected += 1
            print(f"{path.name}\trejected\t{exc}")
            continue
        shape = f"{media.width}x{media.height}" if media.width else "audio only"
        codecs = "/".join(c for c in (media.video_codec, media.audio_codec) if c)
        print(f"{path.name}\taccepted\t{shape} {codecs} {media.duration_s or 0:.1f}s"
              + "".join(f"\n\t\twarning: {w}" for w in warnings))
    return EXIT_REJECTED if rejected else EXIT_OK


def cmd_reconcile(args: argparse.Namespace) -> int:
    import asyncio

    from tiktok_analyzer.ingest.reconciler import reconcile_pass
    from tiktok_analyzer.shared.infra.blobs import MinioBlobStore
    from tiktok_analyzer.shared.infra.kafka import make_broker
    from tiktok_analyzer.shared.infra.ledger import Ledger
    from tiktok_analyzer.shared.settings import IngestSettings, StorageSettings

    storage, ingest = StorageSettings(), IngestSettings()
    store = MinioBlobStore.from_settings()
    ledger = Ledger(store, storage.work_bucket, ingest.ledger_prefix)
    grace = ingest.reconcile_grace_s if args.grace is None else args.grace

    async def once() -> int:
        broker = make_broker()
        await broker.start()
        try:
            missed = await reconcile_pass(broker, store.client, storage.upload_bucket, ledger,
                                          grace)
        finally:
            await broker.stop()
        for ref in missed:
            print(f"re-announced {ref.bucket}/{ref.key}")
        print(f"{len(missed)} upload(s) re-announced", file=sys.stderr)
        return EXIT_OK

    return asyncio.run(once())


def cmd_models(args: argparse.Namespace) -> int:
    from tiktok_analyzer.shared.errors import ConfigError
    from tiktok_analyzer.shared.runtime.models import FolderState, ModelStore
    from tiktok_analyzer.shared.settings import ModelStoreSettings

    store = ModelStore(ModelStoreSettings().store)
    print(f"model store: {store.root}", file=sys.stderr)
    if args.action == "status":
        rows = store.status(verify=args.verify)
        for row in rows:
            if args.keys and row.analyzer not in args.keys:
                continue
            detail = f" ({row.detail})" if row.detail else ""
            print(f"{row.analyzer:<16} {row.state:<8} {row.pinned.model_id}@"
                  f"{row.pinned.revision} {row.folder}{detail}")
        absent = [r.analyzer for r in rows if r.state is not FolderState.PRESENT
                  and (not args.keys or r.analyzer in args.keys)]
        if absent:
            print(f"not ready: {' '.join(absent)}; fetch with `tiktok-analyzer models pull "
                  f"{' '.join(absent)}` where the internet is reachable", file=sys.stderr)
        return EXIT_OK
    unknown = sorted(set(args.keys) - set(store.lock))
    if unknown:
        print(f"error: no pinned model for {unknown}; pinned: {sorted(store.lock)}",
              file=sys.stderr)
        return EXIT_USAGE
    failed = []
    for key in args.keys or sorted(store.lock):
        try:
            paths = store.pull(key, progress=lambda m: print(m, file=sys.stderr))
        except (ConfigError, OSError) as exc:  # every source failed: say which and go on
            print(f"error: {exc}", file=sys.stderr)
            failed.append(key)
            continue
        for path in paths:
            print(f"{key}: {path}")
    if failed:
        print(f"not pulled: {' '.join(failed)}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def cmd_analyzers(args: argparse.Namespace) -> int:
    """Every discovered analyzer: key, group, enabled, weights, inputs, description."""
    from tiktok_analyzer.shared.runtime.models import FolderState, ModelStore
    from tiktok_analyzer.shared.runtime.plugins import discover
    from tiktok_analyzer.shared.settings import ModelStoreSettings, PipelineSettings

    pipeline = PipelineSettings()
    store = ModelStore(ModelStoreSettings().store)
    configured = pipeline.analyzer_settings()
    rows = []
    for key, cls in discover().items():
        # The entries of this deployment's settings (e.g. caption's backend, faces' optional
        # expression model), not only the class's default.
        entries = cls(cls.config_model.model_validate(configured.get(key, {}))).model_entries()
        states = {entry: store.inspect(entry).state for entry in entries}
        absent = [entry for entry, state in states.items() if state is not FolderState.PRESENT]
        if not entries:
            weights = "none needed"
        elif not absent:
            weights = "present"
        else:
            weights = ", ".join(f"{entry} {states[entry]}" for entry in absent) + (
                f": tiktok-analyzer models pull {' '.join(absent)}")
        enabled = "yes" if key in pipeline.for_group(cls.group) else "no"
        rows.append((key, str(cls.group), enabled, weights, cls.inputs.describe(),
                     cls.description()))
    if args.json:
        names = ("key", "group", "enabled", "weights", "inputs", "description")
        print(json.dumps([dict(zip(names, row, strict=True)) for row in rows], indent=2))
        return EXIT_OK
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for key, group, enabled, weights, inputs, description in rows:
        print(f"{key:<{widths[0]}}  {group:<{widths[1]}}  {enabled:<{widths[2]}}  {description}")
        print(f"{'':<{widths[0]}}  weights: {weights}; {inputs}")
    return EXIT_OK


def cmd_schemas(args: argparse.Namespace) -> int:
    from tiktok_analyzer.cli.asyncapi import write_asyncapi
    from tiktok_analyzer.cli.schemas import write_schemas

    for path in [*write_schemas(args.out), *write_asyncapi(args.out.parent / "asyncapi")]:
        print(path)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tiktok-analyzer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("analyze", help="analyze files and folders in this process (no Kafka "
                                       "or MinIO); a report JSON and HTML page per file")
    p.add_argument("files", type=Path, nargs="+", help="media files, or folders to search")
    p.add_argument("--out", type=Path, default=Path("out"),
                   help="folder for the report JSON and its HTML page")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("view", help="rebuild a report's HTML page next to its JSON, print its "
                                    "path, and open it where a browser can be shown")
    p.add_argument("report", type=Path, help="a final report JSON (<video_id>.report.json)")
    p.add_argument("--video", type=Path, help="the source video: keyframes and the player")
    p.add_argument("--no-open", action="store_true", help="only write the page")
    p.set_defaults(func=cmd_view)

    p = sub.add_parser("demo", help="generate a sample video (unless FILE is given), analyze it")
    p.add_argument("file", type=Path, nargs="?")
    p.add_argument("--out", type=Path, default=Path("out"))
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("sample", help="synthesize a test video with known colour and tempo")
    p.add_argument("path", type=Path)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--width", type=int, default=360)
    p.add_argument("--height", type=int, default=640)
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--color", default="#dc1e1e", help="hex colour for --pattern solid")
    p.add_argument("--pattern", choices=["solid", "moving"], default="solid")
    p.add_argument("--bpm", type=float, default=120.0, help="click-track tempo")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("stack", help="local Kafka + MinIO on loopback: up, down, status")
    p.add_argument("action", choices=["up", "down", "status"])
    p.add_argument("--wipe", action="store_true", help="with down: delete data and logs")
    p.add_argument("--secure", action="store_true",
                   help="with up: Kafka SASL_SSL (SCRAM-SHA-512) and MinIO HTTPS, a CA of its "
                        "own; client settings in <state>/secure.env (also: TIKTOK_STACK_SECURE=1)")
    p.set_defaults(func=cmd_stack)

    p = sub.add_parser("init", help="create topics, buckets and the upload notification on a "
                                    "running Kafka and MinIO (compose init, Kubernetes Job)")
    from tiktok_analyzer.cli.init_infra import add_arguments as init_arguments

    init_arguments(p)
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("services", help="run the six services as separate processes")
    p.add_argument("--only", nargs="*", choices=SERVICES)
    p.add_argument("--log-dir", type=Path, default=Path(".cache/services"))
    p.set_defaults(func=cmd_services)

    p = sub.add_parser("submit", help="upload a file to MinIO and wait for its report on Kafka")
    p.add_argument("file", type=Path)
    p.add_argument("--key", help="object key in the upload bucket (default: the file name)")
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--out", type=Path)
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("follow", help="tail the report topic: one line per report (video, "
                                      "status, headline numbers, link to the HTML page)")
    from tiktok_analyzer.cli.follow import add_arguments as follow_arguments
    from tiktok_analyzer.cli.follow import run as follow_run

    follow_arguments(p)
    p.set_defaults(func=follow_run)

    p = sub.add_parser("chaos", help="run videos through Kafka while SIGKILLing every service "
                                     "(and restarting the broker and MinIO if asked); check "
                                     "one report per video (exit 1 otherwise)")
    p.add_argument("--videos", type=int, default=20)
    p.add_argument("--kills-per-service", type=int, default=3)
    p.add_argument("--kill-together", type=int, default=0, metavar="K",
                   help="also SIGKILL K services at the same moment (see --together-rounds)")
    p.add_argument("--together-rounds", type=int, default=2,
                   help="how many times --kill-together happens")
    p.add_argument("--restart-broker", type=int, default=0, metavar="N",
                   help="stop and start the Kafka broker N times during the run")
    p.add_argument("--restart-minio", type=int, default=0, metavar="N",
                   help="stop and start MinIO N times during the run")
    p.add_argument("--outage-s", type=float, nargs=2, default=(5.0, 20.0),
                   metavar=("MIN", "MAX"),
                   help="how long each broker or MinIO restart keeps it down: a random "
                        "number of seconds in this range (default 5 20)")
    p.add_argument("--settle", type=float, default=15.0,
                   help="seconds to keep reading reports after the last expected one, to "
                        "catch duplicates (default 15)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for reports")
    p.add_argument("--log-dir", type=Path, default=Path(".cache/chaos"))
    p.set_defaults(func=cmd_chaos)

    p = sub.add_parser("gate", help="run the ingest media gate on local files and print "
                                    "each outcome (exit 3 if any is rejected)")
    p.add_argument("files", nargs="+", type=Path)
    p.set_defaults(func=cmd_gate)

    p = sub.add_parser("reconcile", help="re-announce uploads that ingest has no record of")
    p.add_argument("--grace", type=float, default=None,
                   help="skip objects younger than this many seconds (default from settings)")
    p.set_defaults(func=cmd_reconcile)

    p = sub.add_parser("models", help="the local model store: status, pull")
    p.add_argument("action", choices=["status", "pull"])
    p.add_argument("keys", nargs="*", help="analyzer keys (default: all)")
    p.add_argument("--verify", action="store_true",
                   help="status: also check the sha256 of every file the lock pins one for")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("analyzers", help="list every analyzer: group, enabled, weights state, "
                                         "what it consumes, what it does")
    p.add_argument("--json", action="store_true", help="one JSON object per analyzer")
    p.set_defaults(func=cmd_analyzers)

    p = sub.add_parser("schemas", help="write the JSON Schemas of every event and the report")
    p.add_argument("--out", type=Path, default=Path("docs/schemas"))
    p.set_defaults(func=cmd_schemas)
    return parser


def main(argv: list[str] | None = None) -> int:
    _quiet_libraries()
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
