"""``pose``: people with their 33 body landmarks per frame, and body-motion energy over time
(how much the bodies move between consecutive sampled frames, relative to their size).

The Tasks ``PoseLandmarker`` runs MediaPipe's BlazePose: the legacy pose detector and full
landmark model the lock pins, bundled into a ``.task`` at load time (the landmark model gets
the input-normalisation metadata it lacks; ``_mediapipe.with_image_normalization``). Each
frame is analysed on its own (image mode), so batches may arrive in any order.

Energy, in ``summarize``: people on consecutive sampled frames are paired by box overlap; for
each pair, the mean displacement of the landmarks visible on both frames, divided by the
body's size (the longer side of its landmark box) and by the time between the frames: body
sizes per second. A frame pair's energy is the mean over its pairs. Pairs across a shot change
(when the aggregator knows the shots) or further apart than ``link_gap_s`` are not compared.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from tiktok_analyzer.gpu_light.analyzers._mediapipe import (
    Box,
    base_options,
    box_of_points,
    match_by_iou,
    mp_image,
    pinned_bytes,
    task_bundle,
    with_image_normalization,
)
from tiktok_analyzer.shared.contracts.events import Group
from tiktok_analyzer.shared.contracts.results import StrictRecord, StrictSummary, mean_of
from tiktok_analyzer.shared.runtime.analyzers import (
    Analyzer,
    AnalyzerConfig,
    FramePolicy,
    FramesInput,
    LoadContext,
    VideoFacts,
)

DETECTOR, LANDMARKS = "pose_detection.tflite", "pose_landmark_full.tflite"
Landmark = tuple[float, float, float, float]
"""x, y in fractions of the frame, z (depth, MediaPipe's scale: about that of x), visibility."""


class PoseConfig(AnalyzerConfig):
    kind: Literal["pose"] = "pose"
    max_people: int = Field(default=4, ge=1, description="People looked for per frame")
    min_detection_confidence: float = Field(default=0.5, gt=0, lt=1)
    min_presence_confidence: float = Field(default=0.5, gt=0, lt=1)
    min_visibility: float = Field(
        default=0.5, ge=0, le=1,
        description="Landmarks less visible than this are left out of the box and the energy")
    link_iou: float = Field(default=0.2, gt=0, le=1,
                            description="Overlap that pairs a person with one on the last frame")
    link_gap_s: float = Field(default=2.0, gt=0,
                              description="Frames further apart are not compared for energy")


class Person(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    box: Box = Field(description="Of the visible landmarks, in fractions of the frame")
    visibility: float = Field(description="Mean landmark visibility, 0..1")
    landmarks: list[Landmark] = Field(
        description="33 BlazePose landmarks (nose, eyes, ears, mouth, shoulders, elbows, "
                    "wrists, hands, hips, knees, ankles, heels, feet): x, y, z, visibility")


class PoseRecord(StrictRecord):
    aspect: float = Field(gt=0, description="Frame width over height (x and y differ in scale)")
    people: list[Person]


class EnergySample(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    t: float = Field(description="The later frame of the pair")
    energy: float = Field(description="Body sizes per second")
    people: int = Field(description="People compared")


class PoseSummary(StrictSummary):
    frames_with_people: int = 0
    people_frame_share: float | None = Field(
        default=None, description="Share of sampled frames with at least one person")
    max_people: int = 0
    mean_people: float | None = None
    mean_energy: float | None = Field(default=None, description="Body sizes per second")
    peak_energy: float | None = None
    peak_energy_t: float | None = None
    energy: list[EnergySample] = Field(default_factory=list)


class PoseAnalyzer(Analyzer[PoseConfig, FramesInput, PoseRecord, PoseSummary]):
    key: ClassVar[str] = "pose"
    group: ClassVar[Group] = Group.GPU_LIGHT
    version: ClassVar[str] = "1"
    inputs = FramePolicy()
    config_model = PoseConfig
    record_model = PoseRecord
    summary_model = PoseSummary
    model_entry = "pose"
    landmarker: Any = None

    def load(self, context: LoadContext) -> None:
        pinned, folder = context.model_store.require(self.key)
        from mediapipe.tasks.python import vision  # type: ignore[import-untyped]

        cfg = self.config
        bundle = task_bundle({
            "pose_detector.tflite": pinned_bytes(pinned, folder, DETECTOR),
            "pose_landmarks_detector.tflite": with_image_normalization(
                pinned_bytes(pinned, folder, LANDMARKS))})
        self.landmarker = vision.PoseLandmarker.create_from_options(vision.PoseLandmarkerOptions(
            base_options=base_options(bundle), num_poses=cfg.max_people,
            min_pose_detection_confidence=cfg.min_detection_confidence,
            min_pose_presence_confidence=cfg.min_presence_confidence))
        self.model_id, self.model_revision = pinned.model_id, pinned.revision

    def process(self, batch: FramesInput) -> list[PoseRecord]:
        out = []
        for frame in batch.frames:
            height, width = frame.rgb.shape[:2]
            result = self.landmarker.detect(mp_image(frame.rgb))
            people = [self.person(p) for p in result.pose_landmarks]
            out.append(PoseRecord(t=frame.t, aspect=round(width / height, 4),
                                  people=[p for p in people if p is not None]))
        return out

    def person(self, landmarks: Sequence[Any]) -> Person | None:
        points: list[Landmark] = [
            (round(p.x, 4), round(p.y, 4), round(p.z, 4), round(p.visibility or 0.0, 3))
            for p in landmarks]
        visible = [(x, y) for x, y, _, v in points if v >= self.config.min_visibility]
        if len(visible) < 2:
            return None
        return Person(box=box_of_points(visible), visibility=mean_of(v for *_, v in points) or 0.0,
                      landmarks=points)

    def close(self) -> None:
        if self.landmarker is not None:
            self.landmarker.close()
            self.landmarker = None

    def summarize(self, records: Sequence[PoseRecord]) -> PoseSummary:
        return self._summary(records, ())

    def summarize_with(self, records: Sequence[PoseRecord], video: VideoFacts) -> PoseSummary:
        return self._summary(records, video.shot_starts_s)

    def _summary(self, records: Sequence[PoseRecord], cuts: Sequence[float]) -> PoseSummary:
        if not records:
            return PoseSummary()
        cfg = self.config
        samples = []
        for before, after in itertools.pairwise(records):
            gap = after.t - before.t
            if gap <= 0 or gap > cfg.link_gap_s or any(before.t < c <= after.t for c in cuts):
                continue
            sample = energy_between(before, after, cfg.link_iou, cfg.min_visibility)
            if sample is not None:
                samples.append(sample)
        peak = max(samples, key=lambda s: (s.energy, -s.t), default=None)
        with_people = sum(1 for r in records if r.people)
        return PoseSummary(
            frames_with_people=with_people,
            people_frame_share=round(with_people / len(records), 4),
            max_people=max(len(r.people) for r in records),
            mean_people=mean_of(len(r.people) for r in records),
            mean_energy=mean_of(s.energy for s in samples),
            peak_energy=peak.energy if peak else None, peak_energy_t=peak.t if peak else None,
            energy=samples)


def energy_between(before: PoseRecord, after: PoseRecord, min_iou: float, min_visibility: float
                   ) -> EnergySample | None:
    """The body-motion energy from ``before`` to ``after`` (see the module docstring), or None
    when no person on one is paired with one on the other."""
    pairs = match_by_iou([p.box for p in before.people], [p.box for p in after.people], min_iou)
    moves = []
    for j, i in sorted(pairs.items()):
        move = displacement(before.people[i], after.people[j], after.aspect, min_visibility)
        if move is not None:
            moves.append(move)
    if not moves:
        return None
    gap = after.t - before.t
    return EnergySample(t=after.t, energy=round(sum(moves) / len(moves) / gap, 4),
                        people=len(moves))


def displacement(a: Person, b: Person, aspect: float, min_visibility: float) -> float | None:
    """Mean distance moved by the landmarks visible on both, over the body's size; x is scaled
    by the frame's aspect so that both axes are in frame heights."""
    both = [(pa, pb) for pa, pb in zip(a.landmarks, b.landmarks, strict=True)
            if pa[3] >= min_visibility and pb[3] >= min_visibility]
    size = max((a.box[2] - a.box[0]) * aspect, a.box[3] - a.box[1],
               (b.box[2] - b.box[0]) * aspect, b.box[3] - b.box[1])
    if len(both) < 2 or size <= 0:
        return None
    moved = [math.hypot((pb[0] - pa[0]) * aspect, pb[1] - pa[1]) for pa, pb in both]
    return sum(moved) / len(moved) / size
