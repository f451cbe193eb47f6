"""Batching across videos: gpu_heavy's ``objects`` throughput with 1, 4 and 8 videos in flight,
frames of several batches packed into each model call (``GroupRunner.run_many``, what the
service does with the messages it consumes together) against one batch per call (``run``, what
it did before).

The model is YOLOv8n's real architecture from ultralytics' yaml with random weights, saved and
loaded through the production path (``ObjectsAnalyzer.load`` from a model store), so the
compute per frame is the real model's; its detections mean nothing and are not looked at. Each
video in flight contributes one sampler batch per round (``--frames-per-batch``, 4 by default
as ``TIKTOK_SAMPLING_HEAVY_BATCH``) of portrait 640x360 frames (the heavy group's size). The
modes alternate round by round, so that load from other processes hits both alike; figures
are medians over rounds.

    .venv/bin/python benchmarks/batching.py                         # CPU, about 2 minutes
    .venv/bin/python benchmarks/batching.py --device cuda --batch-size 32 --rounds 20
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the random YOLO the tests write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frames-per-batch", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16, help="objects' frames per call")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import torch
    from test_objects_model_store import write_random_yolo

    from tiktok_analyzer.gpu_heavy.analyzers.objects import ObjectsAnalyzer, ObjectsConfig
    from tiktok_analyzer.shared.contracts.events import AnalyzerStatus, Group
    from tiktok_analyzer.shared.runtime.analyzers import (
        DecodedFrame,
        FramesInput,
        GroupRunner,
        LoadContext,
    )
    from tiktok_analyzer.shared.runtime.models import ModelStore

    with tempfile.TemporaryDirectory() as tmp:
        store = ModelStore(Path(tmp))
        write_random_yolo(store.folder("objects") / "yolov8n.pt")
        analyzer = ObjectsAnalyzer(ObjectsConfig(batch_size=args.batch_size))
        runner = GroupRunner(Group.GPU_HEAVY, [analyzer],
                             LoadContext(model_store=store, device=args.device))
        runner.load()
        rng = np.random.default_rng(0)
        image = rng.integers(0, 255, (640, 360, 3), dtype=np.uint8)
        runner.run(FramesInput("warm", 0, [DecodedFrame(0, 0.0, image)] * 2))

        def batches(videos: int, round_: int) -> list[FramesInput]:
            n = args.frames_per_batch
            return [FramesInput(f"v{v}", round_, [DecodedFrame(i, i / 2, image)
                                                  for i in range(round_ * n, round_ * n + n)])
                    for v in range(videos)]

        def timed(videos: int, round_: int, together: bool) -> float:
            work = batches(videos, round_)
            started = time.perf_counter()
            outcomes = (runner.run_many(work) if together
                        else [runner.run(b) for b in work])
            elapsed = time.perf_counter() - started
            assert all(o.status is AnalyzerStatus.OK for per in outcomes for o in per)
            return elapsed

        print(f"objects (YOLOv8n, random weights) on {args.device}, torch threads "
              f"{torch.get_num_threads()}, {args.frames_per_batch} frames per sampler batch, "
              f"model calls of up to {args.batch_size} frames, {args.rounds} rounds (medians)")
        print(f"{'videos':>6} {'frames':>6} {'one batch/call f/s':>19} "
              f"{'batched f/s':>12} {'batched/one':>12}")
        for videos in args.videos:
            times: dict[bool, list[float]] = {False: [], True: []}
            for round_ in range(args.rounds):
                for together in (round_ % 2 == 0, round_ % 2 != 0):  # alternate who goes first
                    times[together].append(timed(videos, round_, together))
            frames = videos * args.frames_per_batch
            one = frames / statistics.median(times[False])
            many = frames / statistics.median(times[True])
            print(f"{videos:>6} {frames:>6} {one:>19.1f} {many:>12.1f} {many / one:>11.2f}x",
                  flush=True)
        runner.close()


if __name__ == "__main__":
    main()
