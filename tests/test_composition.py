"""``composition`` on synthesized frames with known answers: a subject on a third, a centred
subject, text in the caption zone, faces and text boxes as ``faces`` and ``ocr`` give them
(those analyzers are still to come: their outcomes are built here in the canonical
``FrameDetections`` form), missing upstreams with their reasons, symmetry and balance,
configurable zones and the video-level summary."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from tiktok_analyzer.gpu_light.analyzers._layout import Zone
from tiktok_analyzer.gpu_light.analyzers.composition import (
    CompositionAnalyzer,
    CompositionConfig,
    CompositionRecord,
)
from tiktok_analyzer.shared.contracts.events import AnalyzerStatus
from tiktok_analyzer.shared.contracts.results import Detection, FrameDetections
from tiktok_analyzer.shared.runtime.analyzers import AnalyzerOutcome, DecodedFrame, FramesInput
from tiktok_analyzer.shared.runtime.plugins import discover
from tiktok_analyzer.shared.runtime.upstream import why_unavailable

HEIGHT, WIDTH = 480, 270  # a light frame of a 1080x1920 video


def background(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.empty((HEIGHT, WIDTH, 3), np.float32)
    image[:] = (70, 90, 110)
    return np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)


def with_subject(image: np.ndarray, x: float, y: float, radius: float = 0.09,
                 seed: int = 1) -> np.ndarray:
    """A textured yellow disc centred at (x, y), fractions of the frame."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    disc = (xs - x * WIDTH) ** 2 + (ys - y * HEIGHT) ** 2 < (radius * WIDTH) ** 2
    texture = rng.integers(0, 255, (HEIGHT, WIDTH, 3))
    image = image.copy()
    image[disc] = (0.5 * texture[disc] + 0.5 * np.array([230, 180, 60])).astype(np.uint8)
    return image


def with_caption_text(image: np.ndarray) -> np.ndarray:
    """White letter-like strokes across the bottom tenth, where TikTok puts its caption."""
    image = image.copy()
    top = int(0.88 * HEIGHT)
    for i in range(14):
        x = int(0.08 * WIDTH) + i * int(0.05 * WIDTH)
        image[top: top + 14, x: x + 3] = 255
        image[top + (i % 3) * 5: top + (i % 3) * 5 + 3, x: x + 10] = 255
    return image


def batch(*images: np.ndarray) -> FramesInput:
    return FramesInput("v", 0, [DecodedFrame(i, i * 0.5, img) for i, img in enumerate(images)])


def detections(key: str, boxes_by_t: dict[float, list[tuple[float, float, float, float]]],
               label: str) -> AnalyzerOutcome:
    """An ``ok`` outcome of ``key`` as the runner hands it over, in the canonical form."""
    records = [FrameDetections(t=t, detections=[Detection(label=label, confidence=0.9, box=b)
                                                for b in boxes])
               for t, boxes in boxes_by_t.items()]
    return AnalyzerOutcome(analyzer=key, version="1", status=AnalyzerStatus.OK, elapsed_s=0.0,
                           records=records)


def not_running(key: str) -> str:
    """Why an analyzer absent from the batch is missing: not installed yet, or not enabled."""
    return why_unavailable(key, None, installed=key in discover())


def one(records: list[CompositionRecord]) -> CompositionRecord:
    (record,) = records
    return record


def test_a_subject_on_a_third() -> None:
    record = one(CompositionAnalyzer().process(batch(with_subject(background(), 1 / 3, 1 / 3))))
    assert record.subject is not None and record.subject.source == "saliency"
    assert record.subject.center == (pytest.approx(1 / 3, abs=0.03),
                                     pytest.approx(1 / 3, abs=0.03))
    assert record.placement == "power_point"
    assert record.thirds_distance is not None and record.thirds_distance < 0.04
    assert record.under_overlays == []
    assert record.unavailable == {key: not_running(key) for key in ("faces", "ocr")}


@pytest.mark.parametrize(("x", "y", "expected"), [
    (0.5, 0.5, "centre"), (0.5, 1 / 3, "third_line"), (2 / 3, 0.58, "third_line"),
    (0.2, 0.52, "off_grid"), (2 / 3, 2 / 3, "power_point")])
def test_placement_against_the_thirds(x: float, y: float, expected: str) -> None:
    record = one(CompositionAnalyzer().process(batch(with_subject(background(), x, y))))
    assert record.placement == expected


def test_text_in_the_caption_zone_by_saliency_alone() -> None:
    record = one(CompositionAnalyzer().process(batch(with_caption_text(background()))))
    assert record.subject is not None
    assert record.subject.center[1] == pytest.approx(0.9, abs=0.04)
    assert [(o.zone, o.what) for o in record.under_overlays] == [("caption", "subject")]


def test_faces_and_text_boxes_when_faces_and_ocr_ran() -> None:
    frame = with_subject(background(), 0.75, 0.75)  # a salient thing elsewhere: faces win
    upstream = {
        "faces": detections("faces", {0.0: [(0.22, 0.25, 0.44, 0.42), (0.88, 0.5, 0.98, 0.56)]},
                            "face"),
        "ocr": detections("ocr", {0.0: [(0.1, 0.86, 0.7, 0.92), (0.3, 0.45, 0.7, 0.5)]},
                          "FOLLOW FOR PART 2"),
    }
    record = one(CompositionAnalyzer().derive(batch(frame), upstream))
    assert record.unavailable == {}
    assert record.subject is not None and record.subject.source == "face"
    assert record.subject.center == (0.33, 0.335)  # the larger face
    assert record.placement == "power_point"
    assert sorted((o.zone, o.what) for o in record.under_overlays) == [
        ("caption", "text"), ("right_rail", "face")]


def test_an_upstream_that_did_not_run_on_the_frame_or_at_all_is_named() -> None:
    skipped = AnalyzerOutcome(analyzer="faces", version="1", status=AnalyzerStatus.SKIPPED,
                              elapsed_s=0.0, reason="no weights")
    upstream = {"faces": skipped, "ocr": detections("ocr", {7.0: []}, "x")}
    record = one(CompositionAnalyzer().derive(batch(with_subject(background(), 0.5, 0.5)),
                                              upstream))
    assert record.unavailable == {"faces": "analyzer faces skipped: no weights",
                                  "ocr": "analyzer ocr did not look at this frame"}
    assert record.subject is not None and record.subject.source == "saliency"


def test_symmetry_and_balance() -> None:
    left = with_subject(background(), 0.25, 0.5)
    mirrored = left.copy()
    mirrored[:, WIDTH // 2:] = left[:, : WIDTH - WIDTH // 2][:, ::-1]
    centred = with_subject(background(), 0.5, 0.5)
    one_sided, symmetric, middle = CompositionAnalyzer().process(batch(left, mirrored, centred))
    assert symmetric.symmetry is not None and symmetric.symmetry > 0.95
    assert one_sided.symmetry is not None and one_sided.symmetry < 0.5
    assert one_sided.balance is not None and one_sided.balance < 0.4
    assert middle.balance is not None and middle.balance > 0.85


def test_zones_are_settings() -> None:
    left_panel = CompositionConfig(zones=(Zone(name="left_panel", box=(0.0, 0.3, 0.3, 0.7)),))
    record = one(CompositionAnalyzer(left_panel).process(
        batch(with_subject(background(), 0.15, 0.5))))
    assert [(o.zone, o.what) for o in record.under_overlays] == [("left_panel", "subject")]
    with pytest.raises(ValidationError, match=r"is not inside 0\.\.1"):
        Zone(name="bad", box=(0.5, 0.0, 0.4, 1.0))


def test_the_summary_over_a_video() -> None:
    analyzer = CompositionAnalyzer()
    frames = batch(with_subject(background(), 1 / 3, 1 / 3), with_subject(background(), 0.5, 0.5),
                   with_caption_text(background()), with_subject(background(), 0.5, 0.5))
    summary = analyzer.summarize(analyzer.process(frames))
    assert summary.frames == 4
    assert summary.placements["centre"] == 0.5
    assert summary.placements["power_point"] == 0.25
    assert [(z.zone, z.what, z.share) for z in summary.under_overlays] == [
        ("caption", "subject", 0.25)]
    assert summary.clear_share == 0.75
    assert summary.subject_is_face == 0.0
    assert summary.unavailable["faces"] == not_running("faces")
    assert analyzer.summarize([]).frames == 0
