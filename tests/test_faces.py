"""``faces`` with the real MediaPipe face detectors (pulled the production way,
``mediapipe_weights``): the astronaut's face in scikit-image's photograph is found where it
is, frames without people give none, and the summary links faces across frames. The Chaplin
clip of ``../shared/testdata`` is optional."""

from __future__ import annotations

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

from tiktok_analyzer.gpu_light.analyzers.faces import (
    EXPRESSION_UNAVAILABLE,
    FacesAnalyzer,
    FacesConfig,
    FacesRecord,
)
from tiktok_analyzer.shared.contracts.events import AnalyzerStatus
from tiktok_analyzer.shared.contracts.results import Detection, FrameDetections

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
    assert FrameDetections.model_validate(record.model_dump()).detections == record.detections


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
    assert summary.unavailable == {"expression": EXPRESSION_UNAVAILABLE}
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
