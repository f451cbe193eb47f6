"""``ocr`` with EasyOCR's official English weights (pulled by the production ``models pull``
path from the package index, md5-checked) on clips synthesized here with known text: a static
title at the top and captions at the bottom that come and go at known times. Checks the text
read, the tracks' start and end (within one sampled frame, 0.5 s), the captions flag, and that
unchanged frames are not read again. Plus the track linking on its own, and that a weight file
carrying code is refused rather than run.

OCR is slow on a CPU: small frames (the light group's 270x480), one torch thread, few frames.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from plugin_helpers import of_type, pulled_model_store
from video_synth import encode, run_light

from tiktok_analyzer.gpu_light.analyzers._text_tracks import link_text, normalise, similar
from tiktok_analyzer.gpu_light.analyzers.ocr import OcrAnalyzer, OcrFrame, OcrSummary
from tiktok_analyzer.shared.contracts.events import AnalyzerStatus, Group
from tiktok_analyzer.shared.contracts.results import Detection
from tiktok_analyzer.shared.runtime.analyzers import (
    DecodedFrame,
    FramesInput,
    GroupRunner,
    LoadContext,
)
from tiktok_analyzer.shared.runtime.models import ModelStore

WIDTH, HEIGHT, FPS = 270, 480, 10
TITLE = "BEST TACOS"
CAPTIONS = [(0.7, 1.6, "hello there"), (1.6, 2.7, "watch this"), (2.7, 3.6, "right now")]


def draw(texts: Sequence[tuple[str, float]]) -> np.ndarray:
    """A plain frame with each text centred at (0.5, y) of the frame, white on a black stroke
    (the usual TikTok caption style), in Pillow's own font so that no system font is needed."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=24)
    image = Image.new("RGB", (WIDTH, HEIGHT), (40, 90, 140))
    pen = ImageDraw.Draw(image)
    for text, y in texts:
        pen.text((WIDTH / 2, y * HEIGHT), text, font=font, fill="white", anchor="mm",
                 stroke_width=2, stroke_fill="black")
    return np.asarray(image)


def captioned(i: int) -> np.ndarray:
    t = i / FPS
    return draw([(TITLE, 0.1), *((text, 0.8) for a, b, text in CAPTIONS if a <= t < b)])


@pytest.fixture(scope="module")
def store() -> Path:
    import torch

    torch.set_num_threads(1)  # two shared cores: one thread is about as fast and disturbs less
    root: Path = pulled_model_store("ocr")
    return root


@pytest.fixture(scope="module")
def captions_run(store: Path, tmp_path_factory: pytest.TempPathFactory
                 ) -> tuple[list[OcrFrame], OcrSummary]:
    folder = tmp_path_factory.mktemp("ocr-captions")
    clip = encode(folder / "captions.mp4", [captioned(i) for i in range(40)], fps=FPS)
    run = run_light(clip, ["ocr"], folder / "blobs", models=store)
    summary = run.summaries["ocr"]
    assert isinstance(summary, OcrSummary)
    return of_type(run.records["ocr"], OcrFrame), summary


def test_reads_the_title_and_the_captions(captions_run: tuple[list[OcrFrame], OcrSummary]
                                          ) -> None:
    records, summary = captions_run
    assert [r.t for r in records] == [0.5 * i for i in range(8)]
    texts = {normalise(tr.text) for tr in summary.tracks}
    assert texts == {normalise(TITLE), *(normalise(text) for _, _, text in CAPTIONS)}, (
        [tr.readings for tr in summary.tracks])


def test_tracks_start_and_end_within_one_sampled_frame(
        captions_run: tuple[list[OcrFrame], OcrSummary]) -> None:
    _, summary = captions_run
    by_text = {normalise(tr.text): tr for tr in summary.tracks}
    title = by_text[normalise(TITLE)]
    assert (title.t, title.end_t, title.frames) == (0.0, 4.0, 8)
    for start, end, text in CAPTIONS:
        track = by_text[normalise(text)]
        assert start <= track.t <= start + 0.5, (text, track)
        assert end <= track.end_t <= end + 0.5, (text, track)


def test_bottom_centred_changing_text_is_captions_the_top_title_is_not(
        captions_run: tuple[list[OcrFrame], OcrSummary]) -> None:
    _, summary = captions_run
    assert summary.burned_in_captions and summary.caption_tracks == len(CAPTIONS)
    for track in summary.tracks:
        is_title = normalise(track.text) == normalise(TITLE)
        assert track.caption is not is_title, track
        assert track.position == ("top-center" if is_title else "bottom-center")
        # 24 px text on a 480 px frame: its box (with EasyOCR's margin) is 5-8 % of the height
        assert 0.04 <= track.height <= 0.09, track
    assert summary.first_seen_s == 0.0 and summary.text_screen_share == 1.0


def test_unchanged_frames_are_not_read_again(
        captions_run: tuple[list[OcrFrame], OcrSummary]) -> None:
    records, summary = captions_run
    assert summary.frames_seen == 8
    assert summary.frames_read < summary.frames_seen
    assert records[0].read == "full"
    # The title never changes: after the first frame it is carried over, never read again.
    assert summary.regions_read <= 1 + len(CAPTIONS) + 1, [
        (r.t, r.read, r.regions_read) for r in records]
    assert summary.frames_reused == sum(1 for r in records if r.read == "reused") > 0


def test_a_static_clip_is_read_once(store: Path) -> None:
    image = draw([(TITLE, 0.1), ("follow for more", 0.8)])
    rng = np.random.default_rng(3)
    frames = []
    for i in range(6):  # JPEG-like noise of a re-encoded still: a grey level or two
        noise = rng.integers(-2, 3, image.shape)
        frames.append(DecodedFrame(i, 0.5 * i, np.clip(image + noise, 0, 255).astype(np.uint8)))
    runner = GroupRunner(Group.GPU_LIGHT, [OcrAnalyzer()], LoadContext(ModelStore(store), "cpu"))
    runner.load()
    try:
        (outcome,) = runner.run(FramesInput("static", 0, frames))
    finally:
        runner.close()
    assert outcome.status is AnalyzerStatus.OK, outcome.reason
    records = of_type(outcome.records, OcrFrame)
    assert [r.read for r in records] == ["full"] + ["reused"] * 5
    assert {tuple(d.label for d in r.detections) for r in records} == {
        (TITLE, "follow for more")}
    summary = OcrAnalyzer().summarize(records)
    assert (summary.frames_seen, summary.frames_read, summary.regions_read) == (6, 1, 2)
    assert not summary.burned_in_captions


class Payload:
    """Unpickling this would create a file: what a tampered weight file could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return Path.touch, (self.marker,)


def test_a_weight_file_carrying_code_is_refused(tmp_path: Path) -> None:
    import torch

    marker = tmp_path / "ran"
    folder = tmp_path / "store" / "ocr"
    folder.mkdir(parents=True)
    for name in ("craft_mlt_25k.pth", "english_g2.pth"):
        torch.save({"weights": Payload(marker)}, folder / name,
                   pickle_protocol=pickle.HIGHEST_PROTOCOL)
    runner = GroupRunner(Group.GPU_LIGHT, [OcrAnalyzer()],
                         LoadContext(ModelStore(tmp_path / "store"), "cpu"))
    runner.load()
    try:
        (outcome,) = runner.run(FramesInput("evil", 0, [DecodedFrame(0, 0.0, draw([]))]))
    finally:
        runner.close()
    assert outcome.status is AnalyzerStatus.FAILED
    assert "weights_only" in (outcome.reason or "").lower() or "unpickl" in (
        outcome.reason or "").lower(), outcome.reason
    assert not marker.exists()


# --- linking, without weights -------------------------------------------------------------------


def line(text: str, box: tuple[float, float, float, float], confidence: float = 0.9
         ) -> Detection:
    return Detection(label=text, confidence=confidence, box=box)


BOTTOM = (0.2, 0.78, 0.8, 0.84)


def test_small_misreadings_stay_one_track_a_changed_number_does_not() -> None:
    assert similar("Hello there!", "hellc there", 0.8)
    assert not similar("Frame = 9", "Frame = 10", 0.8)
    frames = [(0.0, [line("Hello there", BOTTOM)]), (0.5, [line("Hellc there", BOTTOM, 0.5)]),
              (1.0, [line("Hello there", (0.21, 0.78, 0.8, 0.84))]),
              (1.5, [line("Frame = 9", BOTTOM)]), (2.0, [line("Frame = 10", BOTTOM)])]
    tracks = link_text(frames, similarity=0.8, min_iou=0.3, max_gap_s=1.0)
    assert [(tr.text, tr.times) for tr in tracks] == [
        ("Hello there", [0.0, 0.5, 1.0]), ("Frame = 9", [1.5]), ("Frame = 10", [2.0])]


def test_a_text_elsewhere_or_after_a_long_gap_is_a_new_track() -> None:
    top = (0.2, 0.05, 0.8, 0.1)
    frames = [(0.0, [line("SALE", top), line("SALE", BOTTOM)]), (0.5, [line("SALE", top)]),
              (3.0, [line("SALE", top)])]
    tracks = link_text(frames, similarity=0.8, min_iou=0.3, max_gap_s=1.0)
    assert [(tr.box[1], tr.times) for tr in tracks] == [(0.05, [0.0, 0.5]), (0.78, [0.0]),
                                                        (0.05, [3.0])]
