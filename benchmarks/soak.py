"""Soak: a steady stream of videos through the Kafka pipeline for a long time, with each
service's memory sampled, to show whether any of them grows.

Starts the local stack and the six services (an empty model store unless
``--model-store`` names one, so the run measures the pipeline rather than CPU inference),
uploads a freshly synthesized 3-5 s clip every ``--every`` seconds for ``--minutes``, and
every ``--sample`` seconds records each service's resident memory (VmRSS of its process
group, from /proc). At the end it waits for every video's report and prints the memory per
service at the start (mean of the first fifth of the samples, after the warm-up), at the end
(mean of the last fifth) and the peak, the growth end/start, and the usual delivery line:
``videos=N reports=R lost=L duplicates=D``. ``--csv`` writes every sample.

    .venv/bin/python benchmarks/soak.py --minutes 30 --every 15 [--csv soak.csv]

Run it in a network namespace of its own on a shared machine (``ip netns exec``): the stack
uses fixed loopback ports.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from tiktok_analyzer.cli import stack
from tiktok_analyzer.cli.sample import make_video
from tiktok_analyzer.cli.services import ServiceSet
from tiktok_analyzer.cli.submit import read_reports, upload
from tiktok_analyzer.ingest.identity import video_id_for_file
from tiktok_analyzer.shared.contracts.topics import Service

SERVICES = tuple(str(s) for s in Service)


def group_rss_bytes(pgid: int) -> int:
    """Resident memory of every process in the process group (a service and any children)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except (OSError, ValueError):
            continue  # the process ended meanwhile
    return total


def clip(folder: Path, rng: random.Random) -> Path:
    color = (rng.randrange(30, 226), rng.randrange(30, 226), rng.randrange(30, 226))
    return make_video(folder / f"soak-{uuid.uuid4().hex[:10]}.mp4",
                      duration_s=rng.uniform(3, 5), width=180, height=320, color=color,
                      bpm=rng.choice([90, 110, 128]), pattern="moving")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--every", type=float, default=15.0, help="seconds between uploads")
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--model-store", type=Path, default=None)
    parser.add_argument("--csv", type=Path, default=None)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    store = args.model_store or work / "no-models"
    store.mkdir(parents=True, exist_ok=True)
    stack.up()
    samples: list[tuple[float, str, int]] = []
    ids: list[str] = []
    with ServiceSet(SERVICES, log_dir=work / "services",
                    env={"TIKTOK_MODEL_STORE": str(store)}) as services:
        services.wait_ready()
        started = time.monotonic()
        next_upload = next_sample = started
        while (now := time.monotonic()) - started < args.minutes * 60:
            if now >= next_upload:
                path = clip(work / "media", rng)
                ids.append(video_id_for_file(path))
                upload(path, key=f"soak/{path.name}")
                path.unlink()
                next_upload += args.every
            if now >= next_sample:
                for name, proc in services.procs.items():
                    samples.append((now - started, name, group_rss_bytes(proc.pid)))
                minute = (now - started) / 60
                print(f"[soak] {minute:5.1f} min, {len(ids)} uploaded: " + ", ".join(
                    f"{n} {r / 2**20:.0f} MiB" for _, n, r in samples[-len(services.procs):]),
                    file=sys.stderr, flush=True)
                next_sample += args.sample
            time.sleep(max(0.05, min(next_upload, next_sample) - time.monotonic()))
        found = asyncio.run(read_reports(set(ids), timeout=600, settle_s=15))
    if args.csv:
        with args.csv.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["seconds", "service", "rss_bytes"])
            writer.writerows(samples)

    print(f"{args.minutes:g} min, one video every {args.every:g} s, RSS sampled every "
          f"{args.sample:g} s")
    print(f"{'service':<14} {'start MiB':>10} {'end MiB':>10} {'peak MiB':>10} {'end/start':>10}")
    for name in SERVICES:
        series = [rss for _, n, rss in samples if n == name]
        fifth = max(1, len(series) // 5)
        # The first sample is taken right after start-up: skip it so the warm-up (lazy
        # imports, first video) does not count as growth.
        head, tail = statistics.mean(series[1:1 + fifth] or series[:1]), statistics.mean(
            series[-fifth:])
        print(f"{name:<14} {head / 2**20:>10.0f} {tail / 2**20:>10.0f} "
              f"{max(series) / 2**20:>10.0f} {tail / head:>10.2f}")
    reported = [v for v in ids if found[v]]
    extra = sum(len(r) - len({x.report_version for x in r}) for r in found.values())
    print(f"videos={len(ids)} reports={len(reported)} lost={len(ids) - len(reported)} "
          f"duplicates={extra}")
    return 0 if len(reported) == len(ids) and extra == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
