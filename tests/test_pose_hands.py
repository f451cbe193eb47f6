"""``pose`` and ``hands`` with the real MediaPipe models (pulled the production way,
``mediapipe_weights``): the astronaut in scikit-image's photograph is found with her landmarks
where her body is, and moving her by a known distance gives the body-motion energy it should;
frames without people give no person and no hand. Gesture rules are checked on hand shapes
built here; a real hand is looked for in an optional clip of ``../shared/testdata``."""

from __future__ import annotations

import math

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

from tiktok_analyzer.gpu_light.analyzers.hands import FINGERS, THUMB, HandsRecord, gesture_of
from tiktok_analyzer.gpu_light.analyzers.pose import (
    Person,
    PoseAnalyzer,
    PoseRecord,
    energy_between,
)
from tiktok_analyzer.shared.contracts.events import AnalyzerStatus
from tiktok_analyzer.shared.contracts.results import Record
from tiktok_analyzer.shared.runtime.analyzers import VideoFacts

NOSE, LEFT_SHOULDER, RIGHT_SHOULDER = 0, 11, 12


def run(key: str, images: list[np.ndarray], step_s: float = 0.5) -> list[Record]:
    outcome = run_with_store(key, pulled_store(key), frames_of(images, step_s))
    assert outcome.status is AnalyzerStatus.OK, outcome.reason
    return list(outcome.records)


# --- pose ----------------------------------------------------------------------------------------


def test_the_astronaut_is_one_person_with_her_landmarks_on_her_body() -> None:
    (record,) = of_type(run("pose", [astronaut()]), PoseRecord)
    (person,) = record.people
    assert len(person.landmarks) == 33 and record.aspect == 1.0
    nose, left, right = (person.landmarks[i] for i in (NOSE, LEFT_SHOULDER, RIGHT_SHOULDER))
    # Her face spans about x 0.34-0.54, y 0.13-0.33 of the photo (by eye); her shoulders are
    # below it, one either side of the nose, and the photo cuts her off at the waist.
    assert 0.34 < nose[0] < 0.54 and 0.13 < nose[1] < 0.33 and nose[3] > 0.9
    assert min(left[0], right[0]) < nose[0] < max(left[0], right[0])
    assert left[1] > nose[1] + 0.1 and right[1] > nose[1] + 0.1
    assert person.box[1] < 0.25 and person.box[3] > 0.6


def test_moving_the_astronaut_gives_the_energy_of_that_move() -> None:
    # Three frames cut from one padded photo: still, then shifted 40 px right (a known move).
    photo = np.pad(astronaut(), ((0, 0), (64, 64), (0, 0)), mode="edge")
    frames = [photo[:, 64:576], photo[:, 64:576], photo[:, 24:536]]
    records = of_type(run("pose", frames, step_s=0.5), PoseRecord)
    assert [len(r.people) for r in records] == [1, 1, 1]
    summary = PoseAnalyzer().summarize(records)
    still, moved = summary.energy
    assert still.t == 0.5 and still.energy < 0.02  # the same picture: landmarks stay put
    body = max(records[1].people[0].box[2] - records[1].people[0].box[0],
               records[1].people[0].box[3] - records[1].people[0].box[1])
    expected = 40 / 512 / body / 0.5
    assert moved.t == 1.0 and moved.energy == pytest.approx(expected, rel=0.25)
    assert summary.peak_energy_t == 1.0 and summary.max_people == 1
    # Across a shot change the two frames are not compared.
    cut = PoseAnalyzer().summarize_with(records, VideoFacts(1.5, (0.0, 0.8), 512, 512))
    assert [s.t for s in cut.energy] == [0.5]


def person(dx: float = 0.0, dy: float = 0.0, hidden: frozenset[int] = frozenset()) -> Person:
    base = [(0.4 + 0.2 * (i % 2), 0.2 + 0.6 * i / 32, 0.0, 0.0 if i in hidden else 0.95)
            for i in range(33)]
    marks = [(x + dx, y + dy, z, v) for x, y, z, v in base]
    return Person(box=(0.4 + dx, 0.2 + dy, 0.6 + dx, 0.8 + dy), visibility=0.95, landmarks=marks)


def test_energy_is_displacement_over_body_size_per_second() -> None:
    a = PoseRecord(t=1.0, aspect=0.5625, people=[person()])
    b = PoseRecord(t=1.5, aspect=0.5625, people=[person(dy=0.03)])
    sample = energy_between(a, b, min_iou=0.2, min_visibility=0.5)
    assert sample is not None and sample.people == 1
    assert sample.energy == pytest.approx(0.03 / 0.6 / 0.5, abs=1e-4)  # body 0.6 frame heights
    # Sideways moves count in frame heights too: 0.04 of a 9:16 frame's width.
    c = PoseRecord(t=1.5, aspect=0.5625, people=[person(dx=0.04)])
    side = energy_between(a, c, min_iou=0.2, min_visibility=0.5)
    assert side is not None
    assert side.energy == pytest.approx(0.04 * 0.5625 / 0.6 / 0.5, abs=1e-4)
    # Landmarks hidden on either frame are left out; nobody to pair gives no sample.
    d = PoseRecord(t=1.5, aspect=0.5625, people=[person(dy=0.03, hidden=frozenset(range(20)))])
    assert energy_between(a, d, 0.2, 0.5) == sample
    assert energy_between(a, PoseRecord(t=1.5, aspect=0.5625, people=[]), 0.2, 0.5) is None


def test_frames_without_people_have_no_people_and_no_hands() -> None:
    assert [r.people for r in of_type(run("pose", no_people_frames()), PoseRecord)] == [[]] * 3
    assert [r.hands for r in of_type(run("hands", no_people_frames()), HandsRecord)] == [[]] * 3


# --- hands ---------------------------------------------------------------------------------------

# A right hand, palm to the camera, fingers up (x right, y down, z towards the camera): the
# bases of the fingers, and each finger's joints straight or curled into the palm.
MCP = {"index": (-0.12, -0.40), "middle": (-0.04, -0.42), "ring": (0.04, -0.40),
       "pinky": (0.12, -0.36)}
STRAIGHT = ((0.0, -0.15, 0.0), (0.0, -0.25, 0.0), (0.0, -0.33, 0.0))
CURLED = ((0.0, -0.12, -0.02), (0.0, -0.06, -0.12), (0.0, 0.02, -0.10))
HALF_BENT = ((0.0, -0.15, 0.0), (0.0, -0.21, -0.06), (0.0, -0.24, -0.12))
THUMB_OUT = ((-0.08, -0.06, 0.0), (-0.20, -0.12, 0.0), (-0.30, -0.17, 0.0), (-0.40, -0.22, 0.0))
THUMB_IN = ((-0.08, -0.06, 0.0), (-0.14, -0.16, -0.04), (-0.10, -0.26, -0.10),
            (-0.06, -0.32, -0.12))


def hand(fingers: dict[str, tuple[tuple[float, float, float], ...]],
         thumb: tuple[tuple[float, float, float], ...], turn_deg: float = 0.0,
         scale: float = 1.0) -> np.ndarray:
    points = np.zeros((21, 3))
    for i, p in zip(THUMB, thumb, strict=True):
        points[i] = p
    for name, joints in fingers.items():
        mcp, *rest = FINGERS[name]
        base = np.array([*MCP[name], 0.0])
        points[mcp] = base
        for i, offset in zip(rest, joints, strict=True):
            points[i] = base + offset
    angle = math.radians(turn_deg)  # turned in the picture plane, clockwise on screen
    turn = np.array([[math.cos(angle), -math.sin(angle), 0.0],
                     [math.sin(angle), math.cos(angle), 0.0], [0.0, 0.0, 1.0]])
    turned: np.ndarray = (points @ turn.T) * scale
    return turned


def fingers(**shapes: tuple[tuple[float, float, float], ...]
            ) -> dict[str, tuple[tuple[float, float, float], ...]]:
    return {name: shapes.get(name, CURLED) for name in FINGERS}


OPEN = fingers(index=STRAIGHT, middle=STRAIGHT, ring=STRAIGHT, pinky=STRAIGHT)


@pytest.mark.parametrize(("shape", "expected"), [
    (hand(OPEN, THUMB_OUT), "open_palm"),
    (hand(OPEN, THUMB_OUT, turn_deg=35, scale=0.02), "open_palm"),  # tilted, in metres
    (hand(fingers(), THUMB_IN), "fist"),
    (hand(fingers(index=STRAIGHT), THUMB_IN), "pointing"),
    (hand(fingers(index=STRAIGHT), THUMB_OUT, turn_deg=-60), "pointing"),
    (hand(fingers(index=STRAIGHT, middle=STRAIGHT), THUMB_IN), "victory"),
    # A fist turned a quarter so that the sideways thumb points up, or down.
    (hand(fingers(), THUMB_OUT, turn_deg=90), "thumbs_up"),
    (hand(fingers(), THUMB_OUT, turn_deg=-90), "thumbs_down"),
    # Shapes between gestures are none: a half-bent index, three fingers up, thumb sideways.
    (hand(fingers(index=HALF_BENT), THUMB_IN), None),
    (hand(fingers(index=STRAIGHT, middle=STRAIGHT, ring=STRAIGHT), THUMB_IN), None),
    (hand(fingers(), THUMB_OUT), None),
], ids=["open", "open-tilted-metres", "fist", "pointing", "pointing-turned", "victory",
        "thumbs-up", "thumbs-down", "half-bent", "three", "thumb-sideways"])
def test_gesture_rules(shape: np.ndarray, expected: str | None) -> None:
    assert gesture_of(shape) == expected


def test_gesture_rules_refuse_malformed_landmarks() -> None:
    assert gesture_of(np.zeros((20, 3))) is None
    broken = hand(OPEN, THUMB_OUT)
    broken[8, 1] = np.nan
    assert gesture_of(broken) is None


@pytest.mark.shared_testdata
@pytest.mark.skipif(not TESTDATA.is_dir(), reason=f"optional: {TESTDATA} is absent")
def test_the_hand_that_moves_a_bottle_is_found() -> None:
    # obj_intel_bottle-detection.mp4: a hand reaches in from the top left and picks up the left
    # bottle around 12 s (MANIFEST, and seen by eye); at 5 s only the bottles are in view.
    images = clip_frames("obj_intel_bottle-detection.mp4", [5.0, 12.0, 12.5, 13.0])
    records = of_type(run("hands", images), HandsRecord)
    assert [len(r.hands) for r in records] == [0, 1, 1, 1]
    for record in records[1:]:
        (found,) = record.hands
        assert len(found.landmarks) == 21
        assert found.box[0] < 0.35 and found.box[1] < 0.5  # the top left, over the left bottle
