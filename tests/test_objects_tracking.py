"""Object tracks linked from per-frame detections (``objects``' summary), on crafted detections.

The detections stand for what YOLO would report on a clip with known motion; the linking is
the code under test, so its answers are known: who crosses whom, a short and a long gap, two
classes on one spot, a cut, and the same ids whatever order or repeats the records come in.
"""

from __future__ import annotations

import random

from tiktok_analyzer.gpu_heavy.analyzers.objects import ObjectsAnalyzer, ObjectsSummary
from tiktok_analyzer.shared.contracts.results import Detection, FrameDetections
from tiktok_analyzer.shared.runtime.analyzers import VideoFacts

FPS = 2.0


def det(label: str, x: float, y: float = 0.4, size: float = 0.2,
        confidence: float = 0.9) -> Detection:
    return Detection(label=label, class_id=0, confidence=confidence,
                     box=(round(x, 4), y, round(x + size, 4), y + size))


def frames(spec: dict[int, list[Detection]]) -> list[FrameDetections]:
    return [FrameDetections(t=i / FPS, detections=d) for i, d in sorted(spec.items())]


def summary(records: list[FrameDetections], cuts: tuple[float, ...] = ()) -> ObjectsSummary:
    return ObjectsAnalyzer().summarize_with(records, VideoFacts(shot_starts_s=(0.0, *cuts)))


def spans(s: ObjectsSummary) -> list[tuple[int, str, float, float]]:
    return [(t.id, t.label, t.first_seen_s, t.last_seen_s) for t in s.tracks]


def crossing() -> list[FrameDetections]:
    # A walks right, B walks left, 0.1 per frame on the same line; they coincide at frame 3,
    # where IoU with the last boxes alone could not tell them apart afterwards.
    return frames({i: [det("person", 0.1 + 0.1 * i, confidence=0.8),
                       det("person", 0.7 - 0.1 * i, confidence=0.6)] for i in range(7)})


def test_crossing_objects_keep_their_identities() -> None:
    s = summary(crossing())
    assert len(s.tracks) == 2
    by_id = {t.id: t for t in s.tracks}
    # Each track's confidence is its own object's: no swap at the crossing.
    assert sorted(round(t.mean_confidence, 2) for t in by_id.values()) == [0.6, 0.8]
    assert all(t.frames == 7 and t.first_seen_s == 0.0 and t.last_seen_s == 3.0
               for t in s.tracks)
    assert s.classes["person"].max_simultaneous == 2
    assert s.classes["person"].tracks == 2


def test_a_short_gap_continues_the_track_and_a_long_one_starts_another() -> None:
    present = [0, 1, 2, 4, 5, 9, 10]  # missed for 0.5 s (within 1 s), then for 1.5 s
    s = summary(frames({i: [det("dog", 0.3)] if i in present else [] for i in range(11)}))
    assert spans(s) == [(1, "dog", 0.0, 2.5), (2, "dog", 4.5, 5.0)]
    assert s.tracks[0].frames == 5
    assert s.classes["dog"].first_seen_s == 0.0 and s.classes["dog"].last_seen_s == 5.0


def test_two_classes_on_the_same_spot_are_separate_tracks() -> None:
    s = summary(frames({i: [det("person", 0.3), det("chair", 0.31)] for i in range(4)}))
    assert sorted((t.label, t.frames) for t in s.tracks) == [("chair", 4), ("person", 4)]
    assert list(s.classes) == ["chair", "person"]  # equal screen time: by name
    assert s.classes["chair"].screen_time_s == 2.0


def test_a_cut_ends_every_track() -> None:
    s = summary(frames({i: [det("cup", 0.5)] for i in range(6)}), cuts=(1.5,))
    assert spans(s) == [(1, "cup", 0.0, 1.0), (2, "cup", 1.5, 2.5)]


def test_a_single_frame_flicker_is_not_listed() -> None:
    s = summary(frames({0: [det("cat", 0.2)], 1: [det("cat", 0.2), det("bird", 0.7)],
                        2: [det("cat", 0.2)]}))
    assert [t.label for t in s.tracks] == ["cat"]
    assert s.classes["bird"].tracks == 0 and s.classes["bird"].screen_time_s == 0.5


def test_ids_do_not_depend_on_order_or_replayed_batches() -> None:
    records = crossing() + frames({i: [det("dog", 0.05, y=0.0)] for i in range(2, 6)})
    expected = summary(records).model_dump()
    rng = random.Random(7)
    for _ in range(20):
        shuffled = records + rng.sample(records, k=5)  # a replayed batch's repeats
        rng.shuffle(shuffled)
        for frame in shuffled:  # and detections in any order within a frame
            rng.shuffle(frame.detections)
        assert summary(shuffled).model_dump() == expected
