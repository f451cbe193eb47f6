"""``faces`` with the real MediaPipe face detectors (pulled the production way,
``mediapipe_weights``): the astronaut's face in scikit-image's photograph is found where it
is, frames without people give none, and the summary links faces across frames. The Chaplin
clip of ``../shared/testdata`` is optional.

The expression part: a tiny random ViT in the official format (``tiny_face_expression``) in a
temporary store beside the real detector weights, loaded by faces' own ``load``. Random weights
say nothing of the astronaut's expression, so the tests check the plumbing (the crop that
reaches the model, one forward pass per call, scores that are a distribution, the summary's
face-time shares) and that faces runs on, saying why and how to fetch, without those weights.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from mediapipe_weights import (
    TESTDATA,
    astronaut,
    clip_frames,
    frames_of,
    no_people_frames,
    pulled_store,
)
from plugin_helpers import of_type, run_with_store
from tiny_face_expression import FER_LABELS, write_tiny_face_expression

from tiktok_analyzer.gpu_light.analyzers.faces import (
    EXPRESSION_OFF,
    FaceExpression,
    FacesAnalyzer,
    FacesConfig,
    FacesRecord,
    square_crop,
)
from tiktok_analyzer.shared.contracts.events import AnalyzerStatus, Group
from tiktok_analyzer.shared.contracts.results import Detection, FrameDetections
from tiktok_analyzer.shared.runtime.analyzers import AnalyzerOutcome, GroupRunner, LoadContext
from tiktok_analyzer.shared.runtime.models import ModelStore

# The astronaut's face in skimage.astronaut() (512x512), measured by eye on the photo:
# forehead to chin and ear to ear, in fractions of the frame.
FACE_CENTRE = (0.44, 0.23)


def faces_on(images: list[np.ndarray], config: FacesConfig | None = None) -> list[FacesRecord]:
    outcome = run_with_store("faces", pulled_store("faces"), frames_of(images), config)
    assert outcome.status is AnalyzerStatus.OK, outcome.reason
    assert outcome.model_id == "mediapipe/face_detection"
    return of_type(outcome.records, FacesRecord)


@pytest.mark.parametrize("model", ["full_range", "short_range"])
def test_the_astronauts_face_is_found_where_it_is(model: str) -> None:
    (record,) = faces_on([astronaut()], FacesConfig(model=model))  # type: ignore[arg-type]
    (face,) = record.detections
    x1, y1, x2, y2 = face.box
    assert face.label == "face" and face.confidence > 0.8
    assert x1 < FACE_CENTRE[0] < x2 and y1 < FACE_CENTRE[1] < y2
    assert 0.025 < (x2 - x1) * (y2 - y1) < 0.09  # a head-and-shoulders portrait's face


def test_frames_without_people_have_no_faces() -> None:
    records = faces_on(no_people_frames())
    assert [r.detections for r in records] == [[], [], []]
    summary = FacesAnalyzer().summarize(records)
    assert (summary.first_seen_s, summary.face_screen_time_s, summary.faces) == (None, 0.0, [])


def test_records_are_the_frame_detections_composition_reads() -> None:
    (record,) = faces_on([astronaut()])
    # composition reads only these two fields of an upstream's records
    boxes = FrameDetections.model_validate(record.model_dump(include={"t", "detections"}))
    assert boxes.detections == record.detections


def face(x: float, y: float, side: float = 0.2, confidence: float = 0.9) -> Detection:
    return Detection(label="face", confidence=confidence, box=(x, y, x + side, y + side))


def test_faces_are_linked_across_frames_by_overlap() -> None:
    # Two faces drift right; the left one leaves at 1.0 s and a face returns at its place at
    # 3.0 s, after more than link_gap_s: a new face, not the old one back.
    records = [
        FacesRecord(t=0.0, detections=[face(0.1, 0.1), face(0.6, 0.1)]),
        FacesRecord(t=0.5, detections=[face(0.12, 0.1), face(0.62, 0.1)]),
        FacesRecord(t=1.0, detections=[face(0.64, 0.1)]),
        FacesRecord(t=1.5, detections=[]),
        FacesRecord(t=2.0, detections=[face(0.66, 0.1)]),
        FacesRecord(t=3.0, detections=[face(0.12, 0.1, confidence=0.7)]),
    ]
    summary = FacesAnalyzer(FacesConfig(link_gap_s=1.5)).summarize(records)
    assert [(f.id, f.first_seen_s, f.last_seen_s, f.frames) for f in summary.faces] == [
        (1, 0.0, 0.5, 2), (2, 0.0, 2.0, 4), (3, 3.0, 3.0, 1)]
    # Each frame stands for the gap to the next one; the last for the median gap (0.5 s).
    assert [f.screen_time_s for f in summary.faces] == [1.0, 2.5, 0.5]
    assert summary.first_seen_s == 0.0 and summary.max_simultaneous == 2
    assert summary.face_screen_time_s == 3.0  # every frame but the empty one at 1.5 s
    assert summary.face_screen_share == round(3.0 / 3.5, 4)
    assert summary.mean_face_share == summary.largest_face_share == 0.04
    assert summary.faces[2].mean_confidence == 0.7
    assert summary.unavailable == {}  # these records were not made by a run without expression
    again = FacesAnalyzer(FacesConfig(link_gap_s=1.5)).summarize(records)
    assert again == summary  # deterministic
    # A longer allowed gap lets the returning face continue the first one.
    longer = FacesAnalyzer(FacesConfig(link_gap_s=3.0)).summarize(records)
    assert [f.frames for f in longer.faces] == [3, 4]


@pytest.mark.shared_testdata
@pytest.mark.skipif(not TESTDATA.is_dir(), reason=f"optional: {TESTDATA} is absent")
def test_chaplins_face_is_found_by_the_full_range_model_only() -> None:
    # Frames where the film shows a face in close enough view (seen by eye): at 1 s, 4 s, 8 s.
    images = clip_frames("edge_moviepy_chaplin.mp4", [1.0, 4.0, 8.0])
    full = faces_on(images)
    assert all(len(r.detections) == 1 for r in full), full
    for record in full:  # small faces in the upper half of the pillar-boxed picture
        (found,) = record.detections
        assert found.box[3] < 0.5 and (found.box[2] - found.box[0]) < 0.12
    short = faces_on(images, FacesConfig(model="short_range"))
    assert all(r.detections == [] for r in short)


# --- expression -----------------------------------------------------------------------------


def store_with(tmp: Path, expression: str | None) -> ModelStore:
    """A store holding the real detector weights and, unless ``expression`` is None, the tiny
    expression classifier (``"current"``: ``save_pretrained``'s processor file, ``"legacy"``:
    the older feature-extractor form)."""
    real = pulled_store("faces")
    shutil.copytree(real.folder("faces"), tmp / "faces")
    if expression is not None:
        write_tiny_face_expression(tmp / "face_expression", legacy_processor=expression == "legacy")
    return ModelStore(tmp)


@contextmanager
def runner_on(store: ModelStore, config: FacesConfig | None = None
              ) -> Iterator[tuple[FacesAnalyzer, GroupRunner]]:
    analyzer = FacesAnalyzer(config)
    runner = GroupRunner(Group.GPU_LIGHT, [analyzer], LoadContext(store, "cpu"))
    runner.load()
    try:
        yield analyzer, runner
    finally:
        runner.close()


def ok_records(outcome: AnalyzerOutcome) -> list[FacesRecord]:
    assert outcome.status is AnalyzerStatus.OK, outcome.reason
    # as the report carries them, and back
    return [FacesRecord.model_validate(r.model_dump(mode="json"))
            for r in of_type(outcome.records, FacesRecord)]


def model_scores(folder: Path, crop: np.ndarray) -> dict[str, float]:
    """The tiny classifier's softmax on ``crop``, loaded and run here without faces."""
    import torch
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    processor = AutoImageProcessor.from_pretrained(folder, local_files_only=True)
    model = AutoModelForImageClassification.from_pretrained(folder, local_files_only=True).eval()
    with torch.inference_mode():
        logits = model(**processor(images=[crop], return_tensors="pt")).logits
    p = torch.softmax(logits, dim=-1)[0].numpy()
    return {model.config.id2label[i]: float(p[i]) for i in range(len(p))}


@pytest.mark.parametrize("processor", ["current", "legacy"])
def test_the_astronauts_expression_through_the_production_load(tmp_path: Path,
                                                               processor: str) -> None:
    import cv2

    store = store_with(tmp_path, processor)
    empty = no_people_frames()[0]
    with runner_on(store) as (analyzer, runner):
        assert analyzer.model_id == "mediapipe/face_detection + trpakov/vit-face-expression"
        assert analyzer.model_revision == (
            "modules-0.10.21 + 78ed8d30faed7bd0f75e2357a77681e0365e349f")
        (outcome,) = runner.run(frames_of([astronaut(), empty]))
    face_frame, no_face = ok_records(outcome)
    assert face_frame.expression_unavailable is None and no_face.expression_unavailable is None
    assert no_face.detections == [] and no_face.expressions == []
    (face_box,) = face_frame.detections
    (found,) = face_frame.expressions
    assert found is not None
    assert list(found.scores) == sorted(found.scores, key=lambda k: -found.scores[k])
    assert set(found.scores) == set(FER_LABELS)
    assert found.expression == next(iter(found.scores)) and found.score == found.scores[
        found.expression]
    assert sum(found.scores.values()) == pytest.approx(1.0, abs=1e-3)
    # The scores are the model's on the square grey crop around the face, nothing else.
    y0, y1, x0, x1 = square_crop(512, 512, face_box.box, FacesConfig().expression_margin)
    assert y1 - y0 == x1 - x0 > 0
    grey = cv2.cvtColor(np.ascontiguousarray(astronaut()[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    expected = model_scores(tmp_path / "face_expression", np.repeat(grey[..., None], 3, 2))
    assert max(expected.values()) - min(expected.values()) > 0.05  # the check can tell apart
    assert found.scores == pytest.approx(expected, abs=2e-3)

    summary = FacesAnalyzer().summarize([face_frame, no_face])
    assert summary.dominant_expression == found.expression
    assert summary.expression_shares == {found.expression: 1.0}
    assert summary.expression_face_time_s == 0.5  # the face frame stands for 0.5 s
    assert summary.faces[0].expression == found.expression
    assert summary.unavailable == {}


def test_all_faces_of_a_call_share_one_forward_pass(tmp_path: Path) -> None:
    store = store_with(tmp_path, "current")
    shapes: list[tuple[int, ...]] = []
    image = astronaut()
    with runner_on(store) as (analyzer, runner):
        analyzer.classifier.register_forward_pre_hook(
            lambda module, args, kwargs: shapes.append(tuple(kwargs["pixel_values"].shape)),
            with_kwargs=True)
        (outcome,) = runner.run(frames_of([image, image[:, ::-1].copy(), image]))
    records = ok_records(outcome)
    assert shapes == [(3, 3, 32, 32)]  # three faces, one call
    first, mirrored, third = (r.expressions[0] for r in records)
    assert first is not None and third is not None and mirrored is not None
    assert first.scores == third.scores  # batched with others, the same face scores the same


def test_without_expression_weights_faces_still_runs_and_says_how_to_fetch(
        tmp_path: Path) -> None:
    outcome = run_with_store("faces", store_with(tmp_path, None), frames_of([astronaut()]))
    (record,) = ok_records(outcome)
    assert outcome.model_id == "mediapipe/face_detection"
    assert len(record.detections) == 1 and record.expressions == []
    assert record.expression_unavailable is not None
    assert "tiktok-analyzer models pull face_expression" in record.expression_unavailable
    summary = FacesAnalyzer().summarize([record])
    assert summary.first_seen_s == 0.0 and len(summary.faces) == 1
    assert "tiktok-analyzer models pull face_expression" in summary.unavailable["expression"]
    assert (summary.dominant_expression, summary.expression_shares) == (None, {})
    assert summary.faces[0].expression is None


def test_expression_turned_off_or_faces_too_small(tmp_path: Path) -> None:
    store = store_with(tmp_path, "current")
    off = run_with_store("faces", store, frames_of([astronaut()]), FacesConfig(expression=False))
    (record,) = ok_records(off)
    assert record.expressions == [] and record.expression_unavailable == EXPRESSION_OFF
    assert FacesAnalyzer().summarize([record]).unavailable == {"expression": EXPRESSION_OFF}
    small = run_with_store("faces", store, frames_of([astronaut()]),
                           FacesConfig(expression_min_face_px=400))
    (record,) = ok_records(small)
    assert record.expressions == [None] and record.expression_unavailable is None
    summary = FacesAnalyzer().summarize([record])
    assert (summary.expression_shares, summary.unavailable) == ({}, {})


def test_a_checkpoint_that_does_not_fit_fails_the_load(tmp_path: Path) -> None:
    store = store_with(tmp_path, "current")
    config = tmp_path / "face_expression" / "config.json"
    config.write_text(config.read_text().replace('"num_hidden_layers": 1',
                                                 '"num_hidden_layers": 2'))
    outcome = run_with_store("faces", store, frames_of([astronaut()]))
    assert outcome.status is AnalyzerStatus.FAILED
    assert "does not fit" in (outcome.reason or "")


def expressed(scores: dict[str, float]) -> FaceExpression:
    top = max(scores, key=lambda k: scores[k])
    return FaceExpression(expression=top, score=scores[top], scores=scores)


def test_expression_shares_are_face_time() -> None:
    happy = expressed({"happy": 0.7, "neutral": 0.3})
    neutral = expressed({"neutral": 0.6, "happy": 0.4})
    # 0.5 s frames; the left face is happy, then neutral; the right face is neutral, and on the
    # last frame too small to classify.
    records = [
        FacesRecord(t=0.0, detections=[face(0.1, 0.1), face(0.6, 0.1)],
                    expressions=[happy, neutral]),
        FacesRecord(t=0.5, detections=[face(0.1, 0.1), face(0.6, 0.1)],
                    expressions=[happy, neutral]),
        FacesRecord(t=1.0, detections=[face(0.1, 0.1), face(0.6, 0.1)],
                    expressions=[neutral, None]),
    ]
    summary = FacesAnalyzer().summarize(records)
    assert summary.expression_shares == {"neutral": 0.6, "happy": 0.4}
    assert summary.dominant_expression == "neutral"
    assert summary.expression_face_time_s == 2.5
    assert [f.expression for f in summary.faces] == ["happy", "neutral"]
    with pytest.raises(ValueError, match="one per detection"):
        FacesRecord(t=0.0, detections=[face(0.1, 0.1)], expressions=[happy, neutral])


@pytest.mark.parametrize(("box", "size", "expected"), [
    # a 100x50 box in the middle of a 1000x500 frame, 10% margin: a 120 px square on its centre
    ((0.4, 0.4, 0.5, 0.5), (500, 1000), (165, 285, 390, 510)),
    # at the top-left corner: moved inside, still square
    ((0.0, 0.0, 0.1, 0.1), (500, 1000), (0, 120, 0, 120)),
    # larger than the frame allows: shrunk to the frame's short side
    ((0.0, 0.0, 1.0, 1.0), (500, 1000), (0, 500, 250, 750)),
])
def test_square_crop(box: tuple[float, float, float, float], size: tuple[int, int],
                     expected: tuple[int, int, int, int]) -> None:
    assert square_crop(*size, box, 0.1) == expected
