"""Sampler benchmark: decode-only against the full sampler (decode + sample + resize + encode +
publish to Kafka), and the sampler's peak memory on a 60 s and a 10-minute video, in one run.

Inputs (generated once, cached in .cache/bench): the 60 s 1080x1920 30 fps H.264 + AAC video of
``benchmarks/pipeline.py``, and a 10-minute one made by stream-copying it ten times end to end
(seconds to make, same bitrate and decode cost per second).

* decode-only: demux and decode every video and audio frame with the sampler's decoder settings,
  nothing else;
* sampler: ``sample_video`` as the frame_sampler service runs it - on a worker thread, every
  event serialized and published to the project's Kafka broker (``tiktok-analyzer stack up``;
  started here if it is not running, and stopped again if this script started it), payloads
  above the inline limit put in MinIO. Events go to ``bench.``-prefixed copies of the service's
  topics (same partitions and limits) so that no running consumer picks up benchmark videos;
  ``--service-topics`` publishes to the service's own topics instead;
* peak memory: the peak RSS (``VmHWM``, i.e. ``ru_maxrss`` without what a child inherits at
  exec) of a child process running only the sampler with publishing (and, for reference, of one
  running only decode-only) on each file.

The two timings alternate ``--repeat`` times in this process; the headline ratio is the fastest
sampler run over the fastest decode-only run (shared machines are noisy), medians are shown too.

    .venv/bin/python benchmarks/sampler.py [--repeat 3] [--decoder-threads 0,2] [--no-kafka]
                                           [--skip-memory] [--compare-stage GIT_REV]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "bench"
BENCH_PREFIX = "bench."


# --- inputs -------------------------------------------------------------------------------------


def video_60s() -> Path:
    """The same cached file as benchmarks/pipeline.py."""
    from tiktok_analyzer.cli.sample import make_video

    path = CACHE / "moving-1080x1920-60s.mp4"
    if not path.exists():
        print(f"generating {path} ...", flush=True)
        make_video(path, duration_s=60.0, width=1080, height=1920, fps=30, pattern="moving",
                   bpm=120, preset="ultrafast")
    return path


def video_looped(source: Path, times: int) -> Path:
    """``source`` stream-copied ``times`` times end to end: no re-encoding."""
    import av

    path = CACHE / f"{source.stem}-x{times}.mp4"
    if path.exists():
        return path
    print(f"generating {path} ...", flush=True)
    with av.open(str(source)) as src:
        spans: dict[int, int] = {}
        firsts: dict[int, int] = {}
        for packet in src.demux():
            if packet.dts is None:
                continue
            i = packet.stream.index
            firsts.setdefault(i, packet.dts)
            spans[i] = max(spans.get(i, 0), packet.dts + (packet.duration or 0) - firsts[i])
    tmp = path.with_suffix(".partial.mp4")
    with av.open(str(tmp), "w") as out:
        with av.open(str(source)) as src:
            streams = {s.index: out.add_stream_from_template(s) for s in src.streams
                       if s.type in ("video", "audio")}
        for loop in range(times):
            with av.open(str(source)) as src:
                for packet in src.demux():
                    i = packet.stream.index
                    if packet.dts is None or i not in streams:
                        continue
                    shift = loop * spans[i]
                    packet.dts += shift
                    if packet.pts is not None:
                        packet.pts += shift
                    packet.stream = streams[i]
                    out.mux(packet)
    tmp.rename(path)
    return path


def duration_s(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        return (container.duration or 0) / 1_000_000


# --- what is measured ---------------------------------------------------------------------------


def decode_only(path: Path) -> float:
    """Demux + decode every frame of the first video and audio stream, with the sampler's
    decoder settings (``TIKTOK_SAMPLING_DECODER_THREADS`` included)."""
    import av

    from tiktok_analyzer.shared.settings import SamplingSettings

    started = time.perf_counter()
    with av.open(str(path), metadata_errors="ignore") as container:
        video = container.streams.video[0]
        video.thread_type = "AUTO"
        video.thread_count = SamplingSettings().decoder_threads
        streams = [video, *container.streams.audio[:1]]
        for packet in container.demux(streams):
            for _frame in packet.decode():
                pass
    return time.perf_counter() - started


def _accepted(path: Path) -> Any:
    from tiktok_analyzer.ingest.stage import gate_local_file
    from tiktok_analyzer.local.pipeline import file_ref

    accepted = gate_local_file(path, file_ref(path))
    return accepted.model_copy(update={"video_id": f"bench-sampler-{uuid.uuid4().hex[:12]}"})


def _topics(service_topics: bool) -> dict[str, Any]:
    from tiktok_analyzer.shared.contracts import topics

    chosen = {"heavy": topics.FRAMES_HEAVY, "light": topics.FRAMES_LIGHT,
              "audio": topics.AUDIO_CHUNKS, "aggregator": topics.AGGREGATOR_IN}
    if service_topics:
        return chosen
    return {k: topics.Topic(BENCH_PREFIX + t.name, t.partitions, t.purpose)
            for k, t in chosen.items()}


async def _ensure_topics(wanted: list[Any], delete: bool = False) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from tiktok_analyzer.shared.infra.security import kafka_client_kwargs

    admin = AIOKafkaAdminClient(**kafka_client_kwargs())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        if delete:
            gone = [t.name for t in wanted if t.name in existing]
            if gone:
                await admin.delete_topics(gone)
            return
        missing = [NewTopic(t.name, t.partitions, 1,
                            topic_configs={"max.message.bytes": "4194304"})
                   for t in wanted if t.name not in existing]
        if missing:
            await admin.create_topics(missing)
    finally:
        await admin.close()


def sampler_run(path: Path, kafka: bool, service_topics: bool,
                sample_video: Callable[..., Any] | None = None) -> tuple[float, int]:
    """The frame_sampler service's loop (see frame_sampler/app.py) on ``path``: decode on a
    worker thread, publish each event and wait for the broker's ack before going on."""
    if sample_video is None:
        from tiktok_analyzer.frame_sampler.stage import sample_video
    from tiktok_analyzer.shared.contracts.events import AudioChunk, FrameBatch, Group
    from tiktok_analyzer.shared.infra.blobs import LocalBlobStore, MinioBlobStore, PayloadPacker
    from tiktok_analyzer.shared.infra.kafka import make_broker, publish
    from tiktok_analyzer.shared.settings import SamplingSettings, StorageSettings

    settings = SamplingSettings()
    accepted = _accepted(path)
    topics = _topics(service_topics)
    by_group = {Group.GPU_HEAVY: topics["heavy"], Group.GPU_LIGHT: topics["light"],
                Group.AUDIO: topics["audio"]}

    def topic_for(event: Any) -> Any:
        if isinstance(event, FrameBatch | AudioChunk):
            return by_group[event.group]
        return topics["aggregator"]

    async def main() -> tuple[float, int]:
        with tempfile.TemporaryDirectory(prefix="bench-blobs-") as tmp:
            if kafka:
                store: Any = MinioBlobStore.from_settings()
                bucket = StorageSettings().work_bucket
                broker = make_broker()
                await broker.start()
            else:
                store, bucket, broker = LocalBlobStore(Path(tmp)), "work", None
            packer = PayloadPacker(store, bucket, settings.inline_limit_bytes)
            loop = asyncio.get_running_loop()
            count = 0

            def work() -> None:
                nonlocal count
                for event in sample_video(path, accepted, packer, settings):
                    if broker is not None:
                        asyncio.run_coroutine_threadsafe(
                            publish(broker, event, topic_for(event)), loop).result()
                    else:
                        event.model_dump_json()
                    count += 1

            try:
                started = time.perf_counter()
                await asyncio.to_thread(work)
                elapsed = time.perf_counter() - started
            finally:
                if broker is not None:
                    await broker.stop()
            if kafka:  # the benchmark's payloads in MinIO are of no use to anyone
                for key in store.list_keys(bucket, accepted.video_id + "/"):
                    store.client.remove_object(bucket, key)
            return elapsed, count

    return asyncio.run(main())


def stage_at(revision: str) -> Callable[..., Any]:
    """``sample_video`` of the sampler stage as it was at git ``revision``, for before/after."""
    import importlib.util

    source = subprocess.run(
        ["git", "show", f"{revision}:services/frame_sampler/src/tiktok_analyzer/frame_sampler/"
                        "stage.py"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    target = Path(tempfile.mkdtemp(prefix="bench-stage-")) / "stage_at_revision.py"
    target.write_text(source)
    spec = importlib.util.spec_from_file_location("stage_at_revision", target)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.sample_video


# --- child processes for peak memory -----------------------------------------------------------


def _status_mib(field: str) -> float | None:
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return None


def peak_rss_mib() -> float:
    """This process's peak resident set. On Linux from ``VmHWM``: ``ru_maxrss`` also counts the
    image a child was exec'd from, which for a vfork'd child is its parent's whole RSS."""
    peak = _status_mib("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode: str, path: Path, kafka: bool, service_topics: bool) -> None:
    import av  # noqa: F401 - loaded before the baseline is read, like everything below
    import PIL.Image  # noqa: F401

    import tiktok_analyzer.frame_sampler.stage
    import tiktok_analyzer.shared.infra.kafka  # noqa: F401

    baseline = _status_mib("VmRSS")
    if mode == "decode":
        elapsed, events = decode_only(path), 0
    else:
        elapsed, events = sampler_run(path, kafka, service_topics)
    print(json.dumps({"wall_s": elapsed, "events": events, "peak_rss_mib": peak_rss_mib(),
                      "baseline_rss_mib": baseline}))


def in_child(mode: str, path: Path, args: argparse.Namespace) -> dict[str, float]:
    argv = [sys.executable, __file__, "--child", mode, "--child-file", str(path)]
    if args.no_kafka:
        argv.append("--no-kafka")
    if args.service_topics:
        argv.append("--service-topics")
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"child {mode} on {path.name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the run ------------------------------------------------------------------------------------


def timed_runs(path: Path, repeat: int, samplers: dict[str, Callable[[], tuple[float, int]]]
               ) -> tuple[dict[str, list[float]], int]:
    """Decode-only and each sampler, alternating, ``repeat`` times: wall seconds of each run."""
    decode_only(path)  # warm the page cache and the libraries
    times: dict[str, list[float]] = {"decode-only": [], **{name: [] for name in samplers}}
    events = 0
    for i in range(repeat):
        times["decode-only"].append(decode_only(path))
        for name, run in samplers.items():
            elapsed, count = run()
            times[name].append(elapsed)
            events = events or count
        print(f"  run {i + 1}: " + "   ".join(f"{name} {t[-1]:5.2f} s"
                                             for name, t in times.items()), flush=True)
    return times, events


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--decoder-threads", default="0",
                        help="comma-separated decoder thread counts to compare, each used by "
                             "both decode-only and the sampler (0: FFmpeg's choice, cores + 1); "
                             "memory is measured with the first")
    parser.add_argument("--no-kafka", action="store_true",
                        help="serialize events but publish nowhere; payloads to a temp folder")
    parser.add_argument("--service-topics", action="store_true",
                        help="publish to the service's topics, not bench.-prefixed copies")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--compare-stage", metavar="GIT_REV",
                        help="also time the sampler stage as it was at this git revision")
    parser.add_argument("--child", choices=["decode", "sampler"], help=argparse.SUPPRESS)
    parser.add_argument("--child-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.child_file, not args.no_kafka, args.service_topics)
        return

    short = video_60s()
    long = None if args.skip_memory else video_looped(short, 10)
    kafka = not args.no_kafka
    started_stack = False
    if kafka:
        from tiktok_analyzer.cli import stack

        started_stack = not all(stack.status().values())
        stack.up()
        if not args.service_topics:
            asyncio.run(_ensure_topics(list(_topics(False).values())))
    try:
        d = duration_s(short)
        print(f"video: {short.name}, {short.stat().st_size / 1e6:.1f} MB, {d:.1f} s; "
              f"publishing to {'Kafka + MinIO' if kafka else 'nowhere'}; "
              f"{os.cpu_count()} CPUs")
        older = stage_at(args.compare_stage) if args.compare_stage else None
        rows = []
        threads = [int(n) for n in args.decoder_threads.split(",")]
        for n in threads:
            os.environ["TIKTOK_SAMPLING_DECODER_THREADS"] = str(n)
            print(f"decoder threads: {n or 'FFmpeg default'}")
            samplers = {"sampler": lambda: sampler_run(short, kafka, args.service_topics)}
            if older is not None:
                samplers[f"sampler@{args.compare_stage}"] = (
                    lambda: sampler_run(short, kafka, args.service_topics, older))
            times, events = timed_runs(short, args.repeat, samplers)
            rows.append((n, times, events))
        print()
        print(f"| decoder threads | run | fastest of {args.repeat} | median "
              f"| vs decode-only (fastest; medians) |")
        print("|---|---|---|---|---|")
        for n, times, events in rows:
            base = times["decode-only"]
            for name, t in times.items():
                label = name if name == "decode-only" else f"{name} ({events} events)"
                print(f"| {n or 'FFmpeg default'} | {label} | {min(t):.2f} s "
                      f"| {statistics.median(t):.2f} s | **{min(t) / min(base):.2f}x** "
                      f"({statistics.median(t) / statistics.median(base):.2f}x) |")
        if long is None:
            return
        os.environ["TIKTOK_SAMPLING_DECODER_THREADS"] = str(threads[0])
        print()
        memory = []
        for path in (short, long):
            dec = in_child("decode", path, args)
            samp = in_child("sampler", path, args)
            memory.append((path, duration_s(path), dec, samp))
        print("| file | duration | decode-only peak RSS | sampler peak RSS "
              "(after imports) | sampler wall |")
        print("|---|---|---|---|---|")
        for path, dur, dec, samp in memory:
            print(f"| {path.name} | {dur:.0f} s | {dec['peak_rss_mib']:.0f} MiB | "
                  f"{samp['peak_rss_mib']:.0f} MiB ({samp['baseline_rss_mib']:.0f} MiB) | "
                  f"{samp['wall_s']:.1f} s ({samp['events']:.0f} events) |")
    finally:
        if kafka and not args.service_topics:
            asyncio.run(_ensure_topics(list(_topics(False).values()), delete=True))
        if started_stack:
            from tiktok_analyzer.cli import stack

            stack.down()


if __name__ == "__main__":
    main()
