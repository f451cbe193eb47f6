"""``faces``: faces per frame (boxes, size as a share of the frame), each face's screen time
across the video, the most faces at once, and when the first face appears.

Detection: MediaPipe's BlazeFace through the Tasks ``FaceDetector``, on the legacy models the
lock pins. The full-range model is the default: it finds faces down to a few percent of the
frame, which TikTok's wide and group shots need (on a 640x360 silent-film clip only it finds
the faces); ``model = "short_range"`` is faster and suits selfie-distance faces.

Screen time per face: faces are linked across sampled frames in ``summarize`` (where the whole
video is known), greedily by box overlap (IoU), a face missing for longer than ``link_gap_s``
starting a new one. It follows faces, not identities: a person who leaves and comes back, or
two faces that cross, may be split or swapped.

Facial expression is not estimated (``unavailable`` says so in every summary): MediaPipe's
blendshapes need the Tasks face landmarker bundle, which cannot be assembled from the legacy
files (their face landmark model has another output layout), and no expression classifier
ships in a package this deployment can pull with verifiable official checksums. A guess from
box geometry would be a stand-in, not an estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from tiktok_analyzer.gpu_light.analyzers._mediapipe import (
    area,
    base_options,
    clamp_box,
    match_by_iou,
    mp_image,
    pinned_bytes,
)
from tiktok_analyzer.shared.contracts.events import Group
from tiktok_analyzer.shared.contracts.report import TimelineEvent
from tiktok_analyzer.shared.contracts.results import (
    Detection,
    FrameDetections,
    StrictSummary,
    frame_durations,
    mean_of,
)
from tiktok_analyzer.shared.runtime.analyzers import (
    Analyzer,
    AnalyzerConfig,
    FramePolicy,
    FramesInput,
    LoadContext,
)

MODEL_FILES = {"full_range": "face_detection_full_range_sparse.tflite",
               "short_range": "face_detection_short_range.tflite"}
EXPRESSION_UNAVAILABLE = (
    "not estimated: MediaPipe's blendshapes need the face landmarker bundle, which the pinned "
    "legacy models cannot make, and no expression model is pinned")


class FacesConfig(AnalyzerConfig):
    kind: Literal["faces"] = "faces"
    model: Literal["full_range", "short_range"] = Field(
        default="full_range",
        description="full_range: faces near and far (default); short_range: faster, faces "
                    "within about 2 m of the camera")
    min_confidence: float = Field(default=0.5, gt=0, lt=1,
                                  description="Detections scoring lower are dropped")
    min_suppression: float = Field(
        default=0.3, gt=0, lt=1,
        description="Overlap (IoU) above which two detections count as one face")
    link_iou: float = Field(default=0.3, gt=0, le=1,
                            description="Overlap that links a face to one on an earlier frame")
    link_gap_s: float = Field(default=1.5, ge=0,
                              description="A face unseen for longer starts a new track")


class FacesRecord(FrameDetections):
    """The faces on one sampled frame: ``detections`` labelled ``face``, boxes in fractions of
    the frame (x1, y1, x2, y2), left to right. The shape ``composition`` reads."""


class FaceTrack(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: int = Field(description="Numbered from 1 by first appearance")
    first_seen_s: float
    last_seen_s: float
    frames: int = Field(description="Sampled frames it was detected on")
    screen_time_s: float = Field(description="Seconds of sampled frames showing it")
    mean_share: float = Field(description="Mean box area as a share of the frame")
    largest_share: float
    mean_confidence: float


class FacesSummary(StrictSummary):
    first_seen_s: float | None = Field(default=None, description="When the first face appears")
    face_screen_time_s: float = Field(
        default=0.0, description="Seconds of sampled frames showing at least one face")
    face_screen_share: float | None = Field(
        default=None, description="That as a share of the sampled time")
    max_simultaneous: int = Field(default=0, description="Most faces on one frame")
    mean_faces: float | None = Field(default=None, description="Faces per sampled frame")
    mean_face_share: float | None = Field(
        default=None, description="Mean face box area as a share of the frame")
    largest_face_share: float | None = None
    faces: list[FaceTrack] = Field(default_factory=list,
                                   description="Faces linked across frames, by first appearance")
    unavailable: dict[str, str] = Field(
        default_factory=lambda: {"expression": EXPRESSION_UNAVAILABLE},
        description="What is not measured, and why")


class FacesAnalyzer(Analyzer[FacesConfig, FramesInput, FacesRecord, FacesSummary]):
    key: ClassVar[str] = "faces"
    group: ClassVar[Group] = Group.GPU_LIGHT
    version: ClassVar[str] = "1"
    inputs = FramePolicy()
    config_model = FacesConfig
    record_model = FacesRecord
    summary_model = FacesSummary
    model_entry = "faces"
    headline = ("face_screen_time_s",)
    detector: Any = None

    def load(self, context: LoadContext) -> None:
        pinned, folder = context.model_store.require(self.key)
        from mediapipe.tasks.python import vision  # type: ignore[import-untyped]

        cfg = self.config
        model = pinned_bytes(pinned, folder, MODEL_FILES[cfg.model])
        self.detector = vision.FaceDetector.create_from_options(vision.FaceDetectorOptions(
            base_options=base_options(model), min_detection_confidence=cfg.min_confidence,
            min_suppression_threshold=cfg.min_suppression))
        self.model_id, self.model_revision = pinned.model_id, pinned.revision

    def process(self, batch: FramesInput) -> list[FacesRecord]:
        return [FacesRecord(t=frame.t, detections=self.detect(frame.rgb))
                for frame in batch.frames]

    def detect(self, rgb: Any) -> list[Detection]:
        height, width = rgb.shape[:2]
        found = []
        for d in self.detector.detect(mp_image(rgb)).detections:
            b = d.bounding_box
            box = clamp_box(b.origin_x / width, b.origin_y / height,
                            (b.origin_x + b.width) / width, (b.origin_y + b.height) / height)
            if area(box) > 0:
                score = d.categories[0].score if d.categories else 0.0
                found.append(Detection(label="face", confidence=round(float(score), 4), box=box))
        return sorted(found, key=lambda d: (d.box[0], d.box[1]))

    def close(self) -> None:
        if self.detector is not None:
            self.detector.close()
            self.detector = None

    def summarize(self, records: Sequence[FacesRecord]) -> FacesSummary:
        if not records:
            return FacesSummary()
        durations = frame_durations([r.t for r in records])
        with_faces = [(r, d) for r, d in zip(records, durations, strict=True) if r.detections]
        shares = [area(det.box) for r in records for det in r.detections]
        total = sum(durations)
        screen = sum(d for _, d in with_faces)
        return FacesSummary(
            first_seen_s=with_faces[0][0].t if with_faces else None,
            face_screen_time_s=round(screen, 3),
            face_screen_share=round(screen / total, 4) if total > 0 else None,
            max_simultaneous=max(len(r.detections) for r in records),
            mean_faces=mean_of(len(r.detections) for r in records),
            mean_face_share=mean_of(shares),
            largest_face_share=round(max(shares), 4) if shares else None,
            faces=link_faces(records, durations, self.config.link_iou, self.config.link_gap_s))

    def timeline(self, summary: FacesSummary, records: Sequence[FacesRecord]
                 ) -> list[TimelineEvent]:
        if summary.first_seen_s is None:
            return []
        return [TimelineEvent(t=summary.first_seen_s, analyzer=self.key, label="first face")]


def link_faces(records: Sequence[FacesRecord], durations: Sequence[float], min_iou: float,
               max_gap_s: float) -> list[FaceTrack]:
    """Faces followed across frames: each detection joins the open track whose last box it
    overlaps most (at least ``min_iou``), else starts a track; a track unseen for longer than
    ``max_gap_s`` is closed."""
    seen: list[list[tuple[float, float, Detection]]] = []  # per track: (t, duration, detection)
    for record, duration in zip(records, durations, strict=True):
        open_ids = [i for i, track in enumerate(seen) if record.t - track[-1][0] <= max_gap_s]
        matched = match_by_iou([seen[i][-1][2].box for i in open_ids],
                               [d.box for d in record.detections], min_iou)
        for j, detection in enumerate(record.detections):
            entry = (record.t, duration, detection)
            if j in matched:
                seen[open_ids[matched[j]]].append(entry)
            else:
                seen.append([entry])
    return [FaceTrack(id=i + 1, first_seen_s=track[0][0], last_seen_s=track[-1][0],
                      frames=len(track), screen_time_s=round(sum(d for _, d, _ in track), 3),
                      mean_share=mean_of(area(det.box) for _, _, det in track) or 0.0,
                      largest_share=round(max(area(det.box) for _, _, det in track), 4),
                      mean_confidence=mean_of(det.confidence for _, _, det in track) or 0.0)
            for i, track in enumerate(seen)]
