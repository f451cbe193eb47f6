"""Shot-detection benchmark: speed on a 60 s 1080x1920 video and accuracy on clips with known
cuts, our detector side by side with PySceneDetect's AdaptiveDetector (PyAV backend).

Input (generated once, cached in .cache/bench with its answers): 60 s of 1080x1920 30 fps
H.264 + AAC made of textured scenes filmed by a synthetic camera (still, panning, tilting,
zooming, handheld), cut together with hard cuts of varied shot lengths, one fade through
black and one dissolve, so both detectors have real work and a known answer.

Timed in one process, alternating run by run (``--repeat``; fastest and median shown, as the
machine is shared):

* decode-only: every video and audio frame, the sampler's decoder settings, nothing else;
* sampler: ``sample_video`` with the default analyzers (so with the per-frame signals for
  gpu_light), every event serialized, payloads to a local folder (no Kafka: the broker's cost
  is ``benchmarks/sampler.py``'s); and the same without the signals (gpu_light's frame
  analyzers only), to show what the measurements cost;
* our shots alone: decode every frame, its cut grid, the shot tracker (what the sampler runs);
* PySceneDetect: ``detect(path, AdaptiveDetector(), backend="pyav")``;
* analyze: ``LocalPipeline.analyze`` with every analyzer enabled by default (the weighted ones
  report skipped without weights: every weight-free analyzer runs), warmed up on another clip
  first.

Accuracy: on the synthesized file and, when ``../shared/testdata`` is there, on PySceneDetect's
own clips with the cut lists of its tests (goldens) or the folder's MANIFEST.md: shot changes
found within one frame of an answer, answers missed, and changes found that no answer lists.

    .venv/bin/python benchmarks/shots.py [--repeat 3] [--skip-analyze] [--skip-accuracy]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "bench"
TESTDATA = REPO.parent / "shared" / "testdata"
sys.path[:0] = [str(REPO / "benchmarks"), str(REPO / "tests")]

FPS, WIDTH, HEIGHT, DURATION_S = 30, 1080, 1920, 60.0


# --- the 60 s input -----------------------------------------------------------------------------


def _shots_plan(seed: int) -> list[dict[str, Any]]:
    """Shot lengths (frames) and camera moves; lengths vary from a third of a second to 4 s."""
    rng = np.random.default_rng(seed)
    moves = ["still", "pan", "tilt", "zoom", "handheld"]
    plan, total = [], 0
    target = round(DURATION_S * FPS)
    while total < target:
        frames = int(rng.choice([10, 15, 24, 36, 45, 60, 75, 90, 120]))
        frames = min(frames, target - total)
        plan.append({"frames": frames, "move": moves[len(plan) % len(moves)],
                     "seed": int(rng.integers(1, 10_000))})
        total += frames
    return plan


def video_with_shots() -> tuple[Path, list[int]]:
    """The cached input and its shot changes (first frame of every shot but the first)."""
    path = CACHE / "shots-1080x1920-60s.mp4"
    answers = path.with_suffix(".json")
    if path.exists() and answers.exists():
        return path, json.loads(answers.read_text())["changes"]
    print(f"generating {path} (a few minutes) ...", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    changes = _write(path.with_suffix(".partial.mp4"))
    path.with_suffix(".partial.mp4").rename(path)
    answers.write_text(json.dumps({"changes": changes}))
    return path, changes


def _camera(plan: dict[str, Any]) -> Any:
    from video_synth import View, shoot, texture

    scene = texture(plan["seed"], 1500, 2400)
    h, w = scene.shape[:2]
    rng = np.random.default_rng(plan["seed"])
    start = View(w / 2, h / 2, 1.15)

    def frame(i: int) -> np.ndarray:
        move = plan["move"]
        view = {"still": start,
                "pan": View(start.x + 9 * i, start.y, start.zoom),
                "tilt": View(start.x, start.y - 9 * i, start.zoom),
                "zoom": View(start.x, start.y, start.zoom * 1.008 ** i),
                "handheld": View(start.x + rng.normal(0, 5), start.y + rng.normal(0, 5),
                                 start.zoom)}[move]
        return shoot(scene, view, WIDTH, HEIGHT)

    return frame


def _write(path: Path) -> list[int]:
    import av
    from video_synth import blend

    from tiktok_analyzer.cli.sample import AUDIO_RATE, click_track, mux_audio

    plan = _shots_plan(7)
    fade_at, dissolve_at = len(plan) // 3, 2 * len(plan) // 3
    changes: list[int] = []
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "23"}
        audio = out.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        index = 0

        def put(rgb: np.ndarray) -> None:
            nonlocal index
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            for packet in video.encode(frame):
                out.mux(packet)
            index += 1

        previous: Any = None
        previous_n = 0  # the previous shot's frames: its camera goes on for a fade or a mix
        for k, shot in enumerate(plan):
            frame = _camera(shot)
            n = shot["frames"]
            if k and k == dissolve_at and previous is not None and n >= 30:
                # The last 20 frames of the previous shot's camera mixed into this one's.
                for i in range(20):
                    put(blend(previous(previous_n + i), frame(i), i / 19))
                changes.append(index - 10)  # the mix passes one half between 9 and 10
                start = 20
            elif k and k == fade_at and n >= 30:
                black = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
                for i in range(12):  # out of the previous shot
                    put(blend(previous(previous_n + i), black, (i + 1) / 12))
                for _ in range(6):
                    put(black)
                changes.append(index)  # the fade-in starts on its black frame
                for i in range(12):
                    put(blend(frame(i), black, 1 - i / 11))
                start = 12
            else:
                if k:
                    changes.append(index)
                start = 0
            for i in range(start, n):
                put(frame(i))
            previous, previous_n = frame, n
        for packet in video.encode(None):
            out.mux(packet)
        mux_audio(out, audio, click_track(index / FPS, 120))
    return changes


# --- what is measured ---------------------------------------------------------------------------


def sampler_run(path: Path, with_signals: bool) -> float:
    from sampler import _accepted

    from tiktok_analyzer.frame_sampler.stage import sample_video
    from tiktok_analyzer.shared.infra.blobs import LocalBlobStore, PayloadPacker
    from tiktok_analyzer.shared.runtime.analyzers import FramePolicy
    from tiktok_analyzer.shared.runtime.plugins import discover
    from tiktok_analyzer.shared.settings import PipelineSettings, SamplingSettings

    def wants_signals(key: str) -> bool:
        policy = discover()[key].inputs
        return isinstance(policy, FramePolicy) and policy.signals

    light = [k for k in PipelineSettings().gpu_light if with_signals or not wants_signals(k)]
    pipeline = PipelineSettings(gpu_light=light)
    settings = SamplingSettings()
    accepted = _accepted(path)
    with tempfile.TemporaryDirectory(prefix="bench-shots-") as tmp:
        packer = PayloadPacker(LocalBlobStore(Path(tmp)), "work", settings.inline_limit_bytes)
        started = time.perf_counter()
        for event in sample_video(path, accepted, packer, settings, pipeline):
            event.model_dump_json()
        return time.perf_counter() - started


def our_shots(path: Path) -> tuple[float, list[int]]:
    """Decode every frame, measure it, run the shot tracker: the sampler's shot detection."""
    import av

    from tiktok_analyzer.frame_sampler.measure import cut_grid
    from tiktok_analyzer.frame_sampler.shots import ShotTracker
    from tiktok_analyzer.shared.settings import SamplingSettings

    settings = SamplingSettings()
    tracker = ShotTracker(settings.shot_threshold, settings.shot_min_len_s)
    started = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.thread_count = settings.decoder_threads
        base = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        end = 0.0
        for number, frame in enumerate(container.decode(stream)):
            t = float(frame.time) - base if frame.time is not None else number / FPS
            tracker.push(number, max(0.0, t), cut_grid(frame))
            end = t
    tracker.finish(end + 1 / FPS)
    elapsed = time.perf_counter() - started
    return elapsed, [s.start_index for s in tracker.take_shots()[1:]]


def pyscenedetect(path: Path) -> tuple[float, list[int]]:
    from scenedetect import AdaptiveDetector, detect

    started = time.perf_counter()
    scenes = detect(str(path), AdaptiveDetector(), backend="pyav")
    return time.perf_counter() - started, [s[0].frame_num for s in scenes[1:]]


def decode_only(path: Path) -> float:
    from sampler import decode_only as sampler_decode_only

    elapsed: float = sampler_decode_only(path)
    return elapsed


# --- the run ------------------------------------------------------------------------------------


def timed(runs: dict[str, Callable[[], float]], repeat: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(repeat):
        for name, run in runs.items():
            times[name].append(run())
        print(f"  run {i + 1}: " + "   ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items()),
              flush=True)
    return times


def score(found: list[int], answers: list[int]) -> tuple[int, list[int], list[int]]:
    """(answers found within one frame, answers missed, changes found that no answer lists)"""
    hits = [a for a in answers if any(abs(f - a) <= 1 for f in found)]
    missed = [a for a in answers if a not in hits]
    extra = [f for f in found if all(abs(f - a) > 1 for a in answers)]
    return len(hits), missed, extra


def real_clips() -> list[tuple[str, list[int], str]]:
    """(file, answers, where the answers come from) for the clips in ../shared/testdata."""
    goldens = TESTDATA / "groundtruth"

    def golden(name: str) -> list[int]:
        cuts: list[int] = json.loads((goldens / name).read_text())["cuts"]
        return cuts

    if not TESTDATA.is_dir():
        return []
    return [
        ("psd_testvideo.mp4", golden("testvideo.mp4.ContentDetector.default.json"),
         "PySceneDetect golden (ContentDetector)"),
        ("psd_fades.mp4", golden("fades.mp4.ThresholdDetector.default.json"),
         "PySceneDetect golden (ThresholdDetector)"),
        ("psd_counter.mp4", [10, 20], "MANIFEST.md (colour changes)"),
        ("psd_issue-236-split-copy.mkv", [19], "MANIFEST.md"),
        ("psd_issue-195-aspect-ratio.mp4", [70, 170, 301, 421, 484],
         "MANIFEST.md (not authoritative)"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-analyze", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()

    path, answers = video_with_shots()
    from sampler import duration_s

    seconds = duration_s(path)
    print(f"video: {path.name}, {path.stat().st_size / 1e6:.1f} MB, {seconds:.1f} s, "
          f"{len(answers)} shot changes")
    runs: dict[str, Callable[[], float]] = {
        "decode-only": lambda: decode_only(path),
        "sampler": lambda: sampler_run(path, with_signals=True),
        "sampler without signals": lambda: sampler_run(path, with_signals=False),
        "our shots alone": lambda: our_shots(path)[0],
        "PySceneDetect": lambda: pyscenedetect(path)[0],
    }
    if not args.skip_analyze:
        from video_synth import encode, still, texture

        from tiktok_analyzer.local.pipeline import LocalPipeline

        pipeline = LocalPipeline(progress=lambda _m: None)
        warm = encode(CACHE / "shots-warm-up.mp4", still(texture(3), 60))
        pipeline.analyze(warm)  # lazy loads and compiled kernels, once

        def analyze() -> float:
            started = time.perf_counter()
            report = pipeline.analyze(path)
            elapsed = time.perf_counter() - started
            failed = [k for k, s in report.analyzers.items() if s.status == "failed"]
            assert not failed, failed
            spent.clear()
            spent.update({k: s.elapsed_s for k, s in report.analyzers.items() if s.elapsed_s})
            return elapsed

        runs["analyze"] = analyze
    spent: dict[str, float] = {}
    decode_only(path)  # the page cache
    times = timed(runs, args.repeat)
    base = times["decode-only"]
    print()
    print(f"| run | fastest of {args.repeat} | median | vs decode-only | vs video duration |")
    print("|---|---|---|---|---|")
    for name, t in times.items():
        ratio, median_ratio = min(t) / min(base), statistics.median(t) / statistics.median(base)
        print(f"| {name} | {min(t):.2f} s | {statistics.median(t):.2f} s "
              f"| {ratio:.2f}x ({median_ratio:.2f}x) | {min(t) / seconds:.3f} |")

    if spent:
        print()
        print("inside the last analyze, each analyzer's own time (the runner's elapsed_s, on "
              "its thread, while the sampler decodes): "
              + ", ".join(f"{k} {v:.2f} s"
                          for k, v in sorted(spent.items(), key=lambda kv: -kv[1])))
    if args.skip_accuracy:
        return
    print()
    print("| clip | answers (source) | ours: hits within 1 frame / missed / found, no answer "
          "| PySceneDetect: hits / missed / found, no answer |")
    print("|---|---|---|---|")
    clips = [(str(path), answers, "synthesized: the cuts it was made with, one fade, "
                                  "one dissolve")]
    clips += [(str(TESTDATA / name), cuts, source) for name, cuts, source in real_clips()]
    for clip, truth, source in clips:
        _, ours = our_shots(Path(clip))
        _, theirs = pyscenedetect(Path(clip))
        cells = []
        for found in (ours, theirs):
            hits, missed, extra = score(found, truth)
            cells.append(f"{hits}/{len(truth)} / {missed or '-'} / {extra or '-'}")
        print(f"| {Path(clip).name} | {len(truth)} ({source}) | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
