"""``hands``: hands per frame with their 21 landmarks and handedness, and the gestures they
make (thumbs up or down, open palm, pointing, victory, fist).

Hands come from the Tasks ``HandLandmarker`` on the legacy palm detector and full hand
landmark model the lock pins, bundled into a ``.task`` at load time. MediaPipe's own gesture
recogniser is a further classifier that ships in no package (only inside Google's
``gesture_recognizer.task``), so gestures here are rules over the landmarks: which fingers are
straight and which are curled, and where the thumb points (``gesture_of``). They name a clear
hand shape; anything between shapes is no gesture rather than a guess.

Handedness: MediaPipe labels hands as if the image were mirrored (a selfie preview). Videos
are stored unmirrored unless ``mirrored`` says otherwise, so its labels are swapped to be the
person's own left and right.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tiktok_analyzer.gpu_light.analyzers._mediapipe import (
    Box,
    base_options,
    box_of_points,
    mp_image,
    pinned_bytes,
    task_bundle,
)
from tiktok_analyzer.shared.contracts.events import Group
from tiktok_analyzer.shared.contracts.report import TimelineEvent
from tiktok_analyzer.shared.contracts.results import StrictRecord, StrictSummary
from tiktok_analyzer.shared.runtime.analyzers import (
    Analyzer,
    AnalyzerConfig,
    FramePolicy,
    FramesInput,
    LoadContext,
)

DETECTOR, LANDMARKS = "palm_detection_full.tflite", "hand_landmark_full.tflite"
Gesture = Literal["thumbs_up", "thumbs_down", "open_palm", "pointing", "victory", "fist"]

# MediaPipe's hand landmarks: 0 the wrist, then four per digit from the base to the tip.
WRIST = 0
THUMB = (1, 2, 3, 4)  # CMC, MCP, IP, tip
FINGERS = {"index": (5, 6, 7, 8), "middle": (9, 10, 11, 12), "ring": (13, 14, 15, 16),
           "pinky": (17, 18, 19, 20)}  # MCP, PIP, DIP, tip


class HandsConfig(AnalyzerConfig):
    kind: Literal["hands"] = "hands"
    max_hands: int = Field(default=4, ge=1, description="Hands looked for per frame")
    min_detection_confidence: float = Field(default=0.5, gt=0, lt=1)
    min_presence_confidence: float = Field(default=0.5, gt=0, lt=1)
    mirrored: bool = Field(
        default=False,
        description="The video is mirrored (as a selfie preview is): keep MediaPipe's "
                    "handedness labels as they are")


class Hand(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    box: Box = Field(description="Of the landmarks, in fractions of the frame")
    handedness: Literal["left", "right"] = Field(description="The person's own hand")
    handedness_score: float = Field(ge=0, le=1)
    gesture: Gesture | None = Field(default=None, description="None: no clear gesture")
    landmarks: list[tuple[float, float, float]] = Field(
        description="21 landmarks: x, y in fractions of the frame, z depth relative to the "
                    "wrist (about the scale of x)")


class HandsRecord(StrictRecord):
    hands: list[Hand]


class GestureStats(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    frames: int = Field(description="Sampled frames showing it")
    first_seen_s: float


class HandsSummary(StrictSummary):
    frames_with_hands: int = 0
    hand_frame_share: float | None = Field(
        default=None, description="Share of sampled frames with at least one hand")
    max_hands: int = 0
    gestures: dict[str, GestureStats] = Field(
        default_factory=dict, description="Per gesture, most frames first")


class HandsAnalyzer(Analyzer[HandsConfig, FramesInput, HandsRecord, HandsSummary]):
    key: ClassVar[str] = "hands"
    group: ClassVar[Group] = Group.GPU_LIGHT
    version: ClassVar[str] = "1"
    inputs = FramePolicy()
    config_model = HandsConfig
    record_model = HandsRecord
    summary_model = HandsSummary
    model_entry = "hands"
    landmarker: Any = None

    def load(self, context: LoadContext) -> None:
        pinned, folder = context.model_store.require(self.key)
        from mediapipe.tasks.python import vision  # type: ignore[import-untyped]

        cfg = self.config
        bundle = task_bundle({
            "hand_detector.tflite": pinned_bytes(pinned, folder, DETECTOR),
            "hand_landmarks_detector.tflite": pinned_bytes(pinned, folder, LANDMARKS)})
        self.landmarker = vision.HandLandmarker.create_from_options(vision.HandLandmarkerOptions(
            base_options=base_options(bundle), num_hands=cfg.max_hands,
            min_hand_detection_confidence=cfg.min_detection_confidence,
            min_hand_presence_confidence=cfg.min_presence_confidence))
        self.model_id, self.model_revision = pinned.model_id, pinned.revision

    def process(self, batch: FramesInput) -> list[HandsRecord]:
        out = []
        for frame in batch.frames:
            result = self.landmarker.detect(mp_image(frame.rgb))
            hands = [self.hand(marks, world, side[0])
                     for marks, world, side in zip(result.hand_landmarks,
                                                   result.hand_world_landmarks,
                                                   result.handedness, strict=True)]
            out.append(HandsRecord(t=frame.t, hands=sorted(hands, key=lambda h: h.box)))
        return out

    def hand(self, marks: Sequence[Any], world: Sequence[Any], side: Any) -> Hand:
        label = str(side.category_name).lower()
        if not self.config.mirrored:
            label = {"left": "right", "right": "left"}.get(label, label)
        points = [(round(p.x, 4), round(p.y, 4), round(p.z, 4)) for p in marks]
        # World landmarks are in metres around the hand's centre, oriented as the image (y
        # down): finger shapes read the same at any distance and frame shape.
        shape = np.array([(p.x, p.y, p.z) for p in world], dtype=np.float64)
        return Hand(box=box_of_points([(x, y) for x, y, _ in points]),
                    handedness="left" if label == "left" else "right",
                    handedness_score=round(float(side.score), 4), gesture=gesture_of(shape),
                    landmarks=points)

    def close(self) -> None:
        if self.landmarker is not None:
            self.landmarker.close()
            self.landmarker = None

    def summarize(self, records: Sequence[HandsRecord]) -> HandsSummary:
        if not records:
            return HandsSummary()
        frames: dict[str, int] = {}
        first: dict[str, float] = {}
        for record in records:
            for name in sorted({h.gesture for h in record.hands if h.gesture}):
                frames[name] = frames.get(name, 0) + 1
                first.setdefault(name, record.t)
        with_hands = sum(1 for r in records if r.hands)
        return HandsSummary(
            frames_with_hands=with_hands,
            hand_frame_share=round(with_hands / len(records), 4),
            max_hands=max(len(r.hands) for r in records),
            gestures={name: GestureStats(frames=frames[name], first_seen_s=first[name])
                      for name in sorted(frames, key=lambda n: (-frames[n], first[n]))})

    def timeline(self, summary: HandsSummary, records: Sequence[HandsRecord]
                 ) -> list[TimelineEvent]:
        """A gesture's onsets: frames showing it where the previous sampled frame did not."""
        events = []
        previous: set[Gesture] = set()
        for record in records:
            now = {h.gesture for h in record.hands if h.gesture}
            events += [TimelineEvent(t=record.t, analyzer=self.key, label=name)
                       for name in sorted(now - previous)]
            previous = now
        return events


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def _straightness(points: np.ndarray, chain: Sequence[int]) -> float:
    """The least cosine between consecutive bones of ``chain``: 1 straight, below 0 folded
    back on itself."""
    bones = [_unit(points[b] - points[a]) for a, b in itertools.pairwise(chain)]
    return min(float(np.dot(u, v)) for u, v in itertools.pairwise(bones))


def finger_state(points: np.ndarray, finger: Sequence[int]) -> Literal["extended", "folded",
                                                                        "between"]:
    """Extended: straight and its tip further from the wrist than its middle joint. Folded:
    bent hard at the middle joint, or its tip back nearer the wrist than that joint."""
    mcp, pip, _, tip = finger
    wrist = points[WRIST]
    reach_tip = float(np.linalg.norm(points[tip] - wrist))
    reach_pip = float(np.linalg.norm(points[pip] - wrist))
    if _straightness(points, finger) > 0.8 and reach_tip > reach_pip:
        return "extended"
    bend = float(np.dot(_unit(points[pip] - points[mcp]), _unit(points[tip] - points[pip])))
    if bend < 0.2 or reach_tip < reach_pip:
        return "folded"
    return "between"


def thumb_out(points: np.ndarray) -> bool:
    """The thumb is straight and stands away from the hand: its tip is further from the index
    finger's base than most of the palm's length (in a fist it lies against the fingers)."""
    palm = float(np.linalg.norm(points[FINGERS["middle"][0]] - points[WRIST]))
    away = float(np.linalg.norm(points[THUMB[3]] - points[FINGERS["index"][0]]))
    return _straightness(points, THUMB[1:]) > 0.7 and away > 0.7 * palm


def gesture_of(points: np.ndarray) -> Gesture | None:
    """The gesture of a hand's 21 landmarks (x right, y down, any unit), or None."""
    if points.shape != (21, 3) or not np.isfinite(points).all():
        return None
    state = {name: finger_state(points, f) for name, f in FINGERS.items()}
    extended = {n for n, s in state.items() if s == "extended"}
    folded = {n for n, s in state.items() if s == "folded"}
    thumb = thumb_out(points)
    if extended == set(FINGERS) and thumb:
        return "open_palm"
    if extended == {"index", "middle"} and folded == {"ring", "pinky"}:
        return "victory"
    if extended == {"index"} and folded == {"middle", "ring", "pinky"}:
        return "pointing"
    if folded == set(FINGERS):
        if not thumb:
            return "fist"
        direction = _unit(points[THUMB[3]] - points[THUMB[1]])
        if direction[1] < -0.7:
            return "thumbs_up"
        if direction[1] > 0.7:
            return "thumbs_down"
    return None
