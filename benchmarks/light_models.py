"""gpu_light's model analyzers on this CPU: frames per second, a 60 s video's light frames, and
how many frames OCR actually reads.

The clip: 60 s, 540x960, 30 fps, synthesized here (PIL + PyAV) as a talking head: the
astronaut of scikit-image's photograph (a real face and upper body) swaying a few pixels, a
static title at the top and a burned-in caption at the bottom that changes every 2 s (30
captions). It is written once to ``.cache/bench/talking-head-60s.mp4``.

The frames: the production sampler (``sample_video``, default ``SamplingSettings``, only
gpu_light's model analyzers enabled) picks and sizes them; how many each analyzer gets follows
from its ``FramePolicy`` at the default sampling and is counted, not assumed. Each analyzer is
then loaded by its own ``load()`` and run by a ``GroupRunner`` (its ``process_many``, records
validated), the light batches handed over eight messages at a time (``TIKTOK_BATCHING_
MAX_MESSAGES``' default, what a service takes from a backlog), one torch/BLAS thread as the
services run. Weights: the real pinned ones of ``ocr``, ``faces``, ``pose``, ``hands``
(``ModelStore.pull`` into ``.cache/test-models``, checksums verified); ``scene_labels`` at its
real size (ViT-B-32) with random weights (``tests/tiny_vision_models.write_clip``): its speed
is the architecture's, its labels mean nothing. ``faces`` runs without its expression model
(not in the store), as it does where those weights were not pulled.

Reference times measured in the same run: decoding the whole clip (PyAV, every frame to RGB)
and the sampler's whole run (decode, shot detection, picking, resize, JPEG). Each analyzer's
time is given over both; wall and CPU time (the machine may be shared).

    .venv/bin/python benchmarks/light_models.py
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from fractions import Fraction  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the random real-size CLIP writer lives there

WIDTH, HEIGHT, FPS, SECONDS = 540, 960, 30, 60
CAPTION_EVERY_S = 2.0
TITLE = "MY MORNING ROUTINE"
SPEECH = ("so today I want to show you how I start every single day with a few simple habits "
          "that changed my life first I drink a big glass of water then I stretch for ten "
          "minutes and after that I write down three things I am grateful for it sounds small "
          "but it really works try it for a week and tell me how it goes in the comments below "
          "and do not forget to follow for part two tomorrow where I show you my evening "
          "routine and the one habit I will never skip")
LIGHT_MODELS = ("ocr", "faces", "pose", "hands", "scene_labels")
REAL_WEIGHTS = ("ocr", "faces", "pose", "hands")
MESSAGES_PER_CALL = 8


def captions() -> list[str]:
    """30 captions of three words, as auto-captions split speech (three fit the width)."""
    words = SPEECH.split(" ")
    return [" ".join(words[3 * i:3 * i + 3]) for i in range(int(SECONDS / CAPTION_EVERY_S))]


def make_clip(path: Path) -> Path:
    import av
    from PIL import Image, ImageDraw, ImageFont
    from skimage import data

    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    photo = Image.fromarray(data.astronaut()).resize((WIDTH - 40, WIDTH - 40))  # type: ignore[no-untyped-call]
    font = ImageFont.load_default(size=44)
    lines = captions()
    partial = path.with_suffix(".part.mp4")
    with av.open(str(partial), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for i in range(FPS * SECONDS):
            t = i / FPS
            image = Image.new("RGB", (WIDTH, HEIGHT), (52, 60, 72))
            # A talking head sways and nods: a few pixels, never still for long.
            dx, dy = 8 * np.sin(2 * np.pi * t / 3.1), 5 * np.sin(2 * np.pi * t / 1.7)
            image.paste(photo, (20 + round(dx), 190 + round(dy)))
            pen = ImageDraw.Draw(image)
            pen.text((WIDTH / 2, 70), TITLE, font=font, fill="white", anchor="mm",
                     stroke_width=3, stroke_fill="black")
            caption = lines[min(int(t / CAPTION_EVERY_S), len(lines) - 1)]
            pen.text((WIDTH / 2, HEIGHT * 0.86), caption, font=font, fill="yellow",
                     anchor="mm", stroke_width=3, stroke_fill="black")
            frame = av.VideoFrame.from_ndarray(np.asarray(image), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    partial.rename(path)
    return path


@dataclass
class Timing:
    wall_s: float = 0.0
    cpu_s: float = 0.0


@contextmanager
def timed() -> Iterator[Timing]:
    timing = Timing()
    wall, cpu = time.perf_counter(), time.process_time()
    yield timing
    timing.wall_s, timing.cpu_s = time.perf_counter() - wall, time.process_time() - cpu


def decode_all(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for f in container.decode(stream) if f.to_ndarray(format="rgb24") is not None)


def main() -> None:
    import torch
    from tiny_vision_models import write_clip

    from tiktok_analyzer.frame_sampler.stage import sample_video
    from tiktok_analyzer.gpu_light.analyzers.ocr import OcrFrame, OcrSummary
    from tiktok_analyzer.shared.contracts.events import (
        FrameBatch,
        Group,
        MediaInfo,
        ObjectRef,
        SamplingManifest,
        VideoAccepted,
    )
    from tiktok_analyzer.shared.contracts.results import Record
    from tiktok_analyzer.shared.infra.blobs import LocalBlobStore, PayloadPacker
    from tiktok_analyzer.shared.runtime.analyzers import (
        AnyAnalyzer,
        FramesInput,
        GroupRunner,
        LoadContext,
        VideoFacts,
    )
    from tiktok_analyzer.shared.runtime.consume import to_input
    from tiktok_analyzer.shared.runtime.models import ModelStore
    from tiktok_analyzer.shared.runtime.plugins import discover
    from tiktok_analyzer.shared.settings import PipelineSettings, SamplingSettings

    torch.set_num_threads(1)
    clip = make_clip(REPO / ".cache" / "bench" / "talking-head-60s.mp4")
    real = ModelStore(REPO / ".cache" / "test-models")
    for key in REAL_WEIGHTS:  # downloads only what is missing; checks what is there
        real.pull(key, progress=lambda _m: None)

    with timed() as decode:
        decoded = decode_all(clip)
    with tempfile.TemporaryDirectory() as tmp:
        blobs = LocalBlobStore(Path(tmp) / "blobs")
        accepted = VideoAccepted(
            video_id="bench", source=ObjectRef(bucket="local", key=clip.name),
            media=MediaInfo(container="mp4", duration_s=None, size_bytes=clip.stat().st_size))
        pipeline = PipelineSettings(gpu_heavy=[], gpu_light=list(LIGHT_MODELS), audio=[])
        with timed() as sampling:
            events = list(sample_video(clip, accepted, PayloadPacker(blobs, "work", 256 * 1024),
                                       SamplingSettings(), pipeline))
        manifest = events[-1]
        assert isinstance(manifest, SamplingManifest)
        light = [e for e in events if isinstance(e, FrameBatch) and e.group is Group.GPU_LIGHT]
        with timed() as unpacking:
            inputs = [to_input(b, blobs) for b in light]
        assert all(isinstance(i, FramesInput) for i in inputs)
        frames_inputs = [i for i in inputs if isinstance(i, FramesInput)]
        sent = sum(len(i.frames) for i in frames_inputs)
        side = frames_inputs[0].frames[0].rgb.shape
        print(f"clip: {clip.name}, {SECONDS} s {WIDTH}x{HEIGHT} {FPS} fps, {decoded} frames; "
              f"light frames sent: {sent} in {len(light)} batches, {side[1]}x{side[0]}; "
              f"shots: {len(manifest.shot_starts_s)}")
        print(f"decode all frames (PyAV, rgb24): {decode.wall_s:.1f} s wall, "
              f"{decode.cpu_s:.1f} s CPU")
        print(f"sampler whole run (light group only): {sampling.wall_s:.1f} s wall, "
              f"{sampling.cpu_s:.1f} s CPU; JPEG-decoding its light frames: "
              f"{unpacking.wall_s:.2f} s")

        clip_store = ModelStore(Path(tmp) / "models")
        write_clip(clip_store.folder("scene_labels"), "ViT-B-32")  # real size, random weights
        print(f"\n{'analyzer':<13}{'frames':>7}{'load s':>8}{'wall s':>8}{'CPU s':>8}"
              f"{'frames/s':>10}{'x decode':>10}{'x sampler':>10}")
        ocr_records: list[Record] = []
        for key in LIGHT_MODELS:
            cls = discover()[key]
            analyzer: AnyAnalyzer = cls()  # default settings (scene_labels: ViT-B-32)
            store = clip_store if key == "scene_labels" else real
            runner = GroupRunner(Group.GPU_LIGHT, [analyzer], LoadContext(store, "cpu"))
            with timed() as loading:
                runner.load()
            frames = sum(len(i.for_analyzer(key).frames) for i in frames_inputs)
            records: list[Record] = []
            with timed() as running:
                for start in range(0, len(frames_inputs), MESSAGES_PER_CALL):
                    for (outcome,) in runner.run_many(
                            frames_inputs[start:start + MESSAGES_PER_CALL]):
                        assert outcome.status == "ok", (key, outcome.reason)
                        records += outcome.records
            runner.close()
            if key == "ocr":
                ocr_records = records
            print(f"{key:<13}{frames:>7}{loading.wall_s:>8.1f}{running.wall_s:>8.1f}"
                  f"{running.cpu_s:>8.1f}{frames / running.wall_s:>10.2f}"
                  f"{running.wall_s / decode.wall_s:>10.1f}"
                  f"{running.wall_s / sampling.wall_s:>10.1f}")

    ocr = discover()["ocr"]()
    typed = ocr.parse_records(sorted((r.model_dump(mode="json") for r in ocr_records),
                                     key=lambda r: r["t"]))
    summary = ocr.summarize_with(typed, VideoFacts(duration_s=manifest.decoded_duration_s,
                                                   shot_starts_s=tuple(manifest.shot_starts_s)))
    assert isinstance(summary, OcrSummary)
    kinds = Counter(r.read for r in typed if isinstance(r, OcrFrame))
    print(f"\nocr: frames seen {summary.frames_seen}, read {summary.frames_read} "
          f"(full {kinds['full']}, changed {kinds['changed']}), reused "
          f"{summary.frames_reused}; lines read {summary.regions_read}, carried over "
          f"{summary.regions_reused}")
    print(f"ocr: {len(summary.tracks)} text tracks, {summary.caption_tracks} marked captions "
          f"(the clip shows {len(captions())} captions and a title); burned-in captions: "
          f"{summary.burned_in_captions}")
    found = {t.text.lower() for t in summary.tracks}
    exact = sum(1 for line in [TITLE, *captions()] if line.lower() in found)
    print(f"ocr: {exact} of {len(captions()) + 1} texts read exactly (case aside)")


if __name__ == "__main__":
    main()
