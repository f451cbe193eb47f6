"""Pipeline benchmark: decode-only, one-process analyze, and Kafka+MinIO end to end, in one run.

Generates (once, cached) a 60 s 1080x1920 30 fps H.264 + AAC video and prints each time as a
ratio to the video's duration. The end-to-end run is repeated with every payload sent by
reference (inline limit 0) to compare against the default inline-when-small policy.

    .venv/bin/python benchmarks/pipeline.py [--duration 60] [--skip-kafka]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import time
import uuid
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

REPO = Path(__file__).resolve().parents[1]


def decode_only(path: Path) -> tuple[float, int]:
    import av

    started = time.perf_counter()
    frames = 0
    with av.open(str(path)) as container:
        streams = [*container.streams.video[:1], *container.streams.audio[:1]]
        for s in streams:
            s.thread_type = "AUTO"
        for packet in container.demux(streams):
            for _frame in packet.decode():
                frames += 1
    return time.perf_counter() - started, frames


def run_analyze(path: Path) -> float:
    from tiktok_analyzer.local.pipeline import LocalPipeline

    pipeline = LocalPipeline(progress=lambda _m: None)
    started = time.perf_counter()
    pipeline.analyze(path)
    return time.perf_counter() - started


def run_kafka(path: Path, inline_limit: int) -> tuple[float, dict[str, int]]:
    from tiktok_analyzer.cli import stack
    from tiktok_analyzer.cli.services import ServiceSet
    from tiktok_analyzer.cli.submit import read_reports, upload
    from tiktok_analyzer.ingest.identity import video_id_for_file

    stack.up()
    names = ["ingest", "frame_sampler", "gpu_heavy", "gpu_light", "audio", "aggregator"]
    env = {"TIKTOK_SAMPLING_INLINE_LIMIT_BYTES": str(inline_limit)}
    log_dir = REPO / ".cache" / "bench-services" / f"inline-{inline_limit}"
    with ServiceSet(names, log_dir=log_dir, env=env) as services:
        services.wait_ready()
        started = time.perf_counter()
        upload(path, key=f"bench/{uuid.uuid4().hex[:8]}.mp4")
        video_id = video_id_for_file(path)
        reports = asyncio.run(read_reports({video_id}, timeout=900))
        elapsed = time.perf_counter() - started
    sampler_log = (log_dir / "frame_sampler.log").read_text()
    line = [s for s in sampler_log.splitlines() if f"sampled {video_id}" in s][-1]
    inline, stored = (int(w) for w in line.split("(")[1].split()[0:4:3])
    assert reports[video_id], "no report"
    return elapsed, {"inline": inline, "stored": stored}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--skip-kafka", action="store_true")
    args = parser.parse_args()

    from tiktok_analyzer.cli.sample import make_video

    path = REPO / ".cache" / "bench" / f"moving-1080x1920-{args.duration:g}s.mp4"
    if not path.exists():
        print(f"generating {path} ...", flush=True)
        make_video(path, duration_s=args.duration, width=1080, height=1920, fps=30,
                   pattern="moving", bpm=120, preset="ultrafast")
    d = args.duration
    print(f"video: {path.name}, {path.stat().st_size / 1e6:.1f} MB, {d:g} s")

    decode_s, frames = decode_only(path)
    print(f"decode-only      {decode_s:7.2f}s  {decode_s / d:.3f}x realtime  ({frames} frames)")
    analyze_s = run_analyze(path)
    print(f"analyze          {analyze_s:7.2f}s  {analyze_s / d:.3f}x realtime  "
          f"({analyze_s / decode_s:.2f}x decode-only)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MiB")
    if args.skip_kafka:
        return
    for limit, label in [(256 * 1024, "inline<=256KiB"), (0, "all by reference")]:
        e2e_s, counts = run_kafka(path, limit)
        print(f"kafka+minio e2e  {e2e_s:7.2f}s  {e2e_s / d:.3f}x realtime  [{label}: "
              f"{counts['inline']} payloads inline, {counts['stored']} stored]")


if __name__ == "__main__":
    main()
