"""``faces``: faces per frame (boxes, size as a share of the frame), each face's screen time
across the video, the most faces at once, when the first face appears, and each face's facial
expression where the expression model is in the store.

Detection: MediaPipe's BlazeFace through the Tasks ``FaceDetector``, on the legacy models the
lock pins. The full-range model is the default: it finds faces down to a few percent of the
frame, which TikTok's wide and group shots need (on a 640x360 silent-film clip only it finds
the faces); ``model = "short_range"`` is faster and suits selfie-distance faces.

Screen time per face: faces are linked across sampled frames in ``summarize`` (where the whole
video is known), greedily by box overlap (IoU), a face missing for longer than ``link_gap_s``
starting a new one. It follows faces, not identities: a person who leaves and comes back, or
two faces that cross, may be split or swapped.

Expression: a transformers image classifier on the detected face crops, the lock's
``face_expression`` entry (trpakov/vit-face-expression: a ViT-base fine-tuned on FER-2013,
seven classes: angry, disgust, fear, happy, neutral, sad, surprise). Each face is cut out as a
square around its box with a margin (FER-2013's faces are square and show some hair and chin;
the processor resizes to 224x224 without keeping the aspect, so a non-square crop would squash
the face), turned to grey (FER-2013 is greyscale), and all crops of a call go through the model
in one forward pass. Faces smaller than ``expression_min_face_px`` are not classified: FER-2013's
faces are 48 px, and far below that an expression is guesswork. Scores are a softmax (one
expression per face). It is an estimate of the visible expression, not of what anyone feels;
FER-2013 is posed and web-scraped, skewed to happy and neutral, and weak on disgust and fear.

Why not MediaPipe's blendshapes: they need the Tasks face landmarker bundle, which cannot be
built from the legacy files the lock pins (their face landmark model has another output layout
than the landmarker's, and the blendshape model is in no official package reachable here), so
no checksum-verified weights exist for it; the classifier's weights are pinned by commit and
sha256 on the hub. Blendshapes would also need a hand-written mapping from 52 muscle
coefficients to expressions, while the classifier is trained on expression labels directly.

The expression part is optional: without its weights (or with ``expression = false``) faces
still runs on its own weights, and every record and the summary say why expression is missing,
with the pull command. Its weights present but unloadable fail the load: a broken store should
be seen, not hidden.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tiktok_analyzer.gpu_light.analyzers._mediapipe import (
    Box,
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
from tiktok_analyzer.shared.errors import WeightsMissing
from tiktok_analyzer.shared.runtime.analyzers import (
    Analyzer,
    AnalyzerConfig,
    FramePolicy,
    FramesInput,
    LoadContext,
)
from tiktok_analyzer.shared.runtime.gpu import free_accelerator_memory

MODEL_FILES = {"full_range": "face_detection_full_range_sparse.tflite",
               "short_range": "face_detection_short_range.tflite"}
EXPRESSION_ENTRY = "face_expression"
EXPRESSION_OFF = "not estimated: turned off (expression = false)"
# Crops per forward pass: a crowd on every frame of a call must not blow up device memory.
EXPRESSION_CHUNK = 64


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
    expression: bool = Field(
        default=True, description="Estimate each face's expression when the expression "
                                  "model's weights are in the store")
    expression_model: str = Field(
        default=EXPRESSION_ENTRY,
        description="Model-lock entry of the expression classifier (a transformers image "
                    "classifier)")
    expression_margin: float = Field(
        default=0.15, ge=0, le=1,
        description="Added to each side of the face box before cropping, as a share of its "
                    "longer side")
    expression_min_face_px: int = Field(
        default=24, ge=1, description="Faces with a shorter side (pixels) are not classified")
    expression_grayscale: bool = Field(
        default=True, description="Feed crops in grey, as the FER-2013 training images are")


class FaceExpression(BaseModel):
    """The expression classifier's answer for one face."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    expression: str = Field(description="The class with the highest score")
    score: float = Field(ge=0, le=1)
    scores: dict[str, float] = Field(
        description="Every class's softmax score (rounded to 4 digits), highest first")


class FacesRecord(FrameDetections):
    """The faces on one sampled frame: ``detections`` labelled ``face``, boxes in fractions of
    the frame (x1, y1, x2, y2), left to right (the shape ``composition`` reads), and each
    face's expression."""

    expressions: list[FaceExpression | None] = Field(
        default_factory=list,
        description="expressions[i] is that of detections[i] (None: face too small); empty "
                    "when expression is not estimated")
    expression_unavailable: str | None = Field(
        default=None, description="Why expression is not estimated on this frame")

    @model_validator(mode="after")
    def _aligned(self) -> FacesRecord:
        if self.expressions and len(self.expressions) != len(self.detections):
            raise ValueError("expressions must be empty or one per detection")
        return self


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
    expression: str | None = Field(
        default=None, description="Its most frequent expression, by screen time")


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
    dominant_expression: str | None = Field(
        default=None, description="The expression with the most face-time")
    expression_shares: dict[str, float] = Field(
        default_factory=dict,
        description="Share of classified face-time (seconds x faces) per top expression, "
                    "largest first")
    expression_face_time_s: float = Field(
        default=0.0, description="Face-seconds whose expression was classified")
    unavailable: dict[str, str] = Field(default_factory=dict,
                                        description="What is not measured, and why")


def square_crop(height: int, width: int, box: Box, margin: float) -> tuple[int, int, int, int]:
    """Pixel rows and columns ``(y0, y1, x0, x1)`` of a square around ``box`` (fractions of the
    frame) grown by ``margin`` of its longer side on each side, moved inside the frame rather
    than cut by its edge so that it stays square (shrunk only if the frame is smaller)."""
    x1, y1, x2, y2 = box[0] * width, box[1] * height, box[2] * width, box[3] * height
    side = max(x2 - x1, y2 - y1) * (1 + 2 * margin)
    side_px = max(1, min(round(side), height, width))
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left = min(max(round(cx - side_px / 2), 0), width - side_px)
    top = min(max(round(cy - side_px / 2), 0), height - side_px)
    return top, top + side_px, left, left + side_px


class FacesAnalyzer(Analyzer[FacesConfig, FramesInput, FacesRecord, FacesSummary]):
    key: ClassVar[str] = "faces"
    group: ClassVar[Group] = Group.GPU_LIGHT
    version: ClassVar[str] = "2"
    inputs = FramePolicy()
    config_model = FacesConfig
    record_model = FacesRecord
    summary_model = FacesSummary
    model_entry = "faces"
    headline = ("face_screen_time_s",)
    detector: Any = None
    classifier: Any = None  # the expression model, None when expression is not estimated
    processor: Any = None
    expression_labels: list[str]
    expression_unavailable: str | None = EXPRESSION_OFF

    def model_entries(self) -> tuple[str, ...]:
        extra = (self.config.expression_model,) if self.config.expression else ()
        return (*super().model_entries(), *extra)

    def load(self, context: LoadContext) -> None:
        pinned, folder = context.model_store.require(self.key)
        from mediapipe.tasks.python import vision  # type: ignore[import-untyped]

        cfg = self.config
        model = pinned_bytes(pinned, folder, MODEL_FILES[cfg.model])
        self.detector = vision.FaceDetector.create_from_options(vision.FaceDetectorOptions(
            base_options=base_options(model), min_detection_confidence=cfg.min_confidence,
            min_suppression_threshold=cfg.min_suppression))
        self.model_id, self.model_revision = pinned.model_id, pinned.revision
        if cfg.expression:
            self.load_expression(context)

    def load_expression(self, context: LoadContext) -> None:
        """The expression classifier from its own lock entry, or the reason it is missing in
        ``expression_unavailable``: faces runs on without it."""
        entry = self.config.expression_model
        try:
            pinned, folder = context.model_store.require(entry)
        except WeightsMissing as exc:
            self.expression_unavailable = f"not estimated: {exc}"
            return
        try:
            import torch  # noqa: F401
            from transformers import AutoImageProcessor, AutoModelForImageClassification
        except ImportError as exc:  # torch and transformers are not faces' own requirements
            self.expression_unavailable = (
                f"not estimated: {exc.name or 'transformers'} is not installed (the expression "
                f"model {pinned.model_id} needs torch and transformers)")
            return
        processor = AutoImageProcessor.from_pretrained(folder, local_files_only=True)
        # (model, loading info) with output_loading_info, which transformers' types omit
        loaded: Any = AutoModelForImageClassification.from_pretrained(
            folder, local_files_only=True, use_safetensors=True, output_loading_info=True)
        model, info = loaded
        # transformers only warns about missing weights and fills them with random values;
        # output of random weights must never be presented as analysis.
        missing, mismatched = list(info.get("missing_keys", ())), list(
            info.get("mismatched_keys", ()))
        if missing or mismatched:
            raise ValueError(f"checkpoint of {pinned.model_id} does not fit its architecture: "
                             f"missing {missing[:5]}, mismatched {mismatched[:5]}")
        self.setup_expression(model, processor, context.device)
        # One result names both models: detection's first, as before.
        self.model_id = f"{self.model_id} + {pinned.model_id}"
        self.model_revision = f"{self.model_revision} + {pinned.revision}"

    def setup_expression(self, model: Any, processor: Any, device: str) -> None:
        """Takes a loaded classifier and image processor (``load`` and benchmarks). float32
        everywhere: a ViT-base on a few crops per frame is cheap, and half precision would
        only shift the scores."""
        self.device = device
        self.classifier = model.to(device=device).eval()
        self.processor = processor
        self.expression_labels = [str(model.config.id2label[i]).strip().lower()
                                  for i in range(model.config.num_labels)]
        self.expression_unavailable = None

    def warm_up(self) -> None:
        if self.classifier is not None:
            self.classify([np.full((48, 48, 3), 127, dtype=np.uint8)])

    def process(self, batch: FramesInput) -> list[FacesRecord]:
        return self.process_many([batch])[0]

    def process_many(self, batches: Sequence[FramesInput]) -> list[list[FacesRecord]]:
        """Detection frame by frame (MediaPipe takes one image), then every face crop of every
        frame of the call through the expression model together."""
        found = [[self.detect(frame.rgb) for frame in batch.frames] for batch in batches]
        expressions: list[list[list[FaceExpression | None]]] = [
            [[] for _ in batch.frames] for batch in batches]
        if self.classifier is not None:
            crops: list[np.ndarray] = []
            where: list[tuple[int, int, int]] = []  # (batch, frame, face) of each crop
            for b, batch in enumerate(batches):
                for f, frame in enumerate(batch.frames):
                    expressions[b][f] = [None] * len(found[b][f])
                    for d, detection in enumerate(found[b][f]):
                        crop = self.crop(frame.rgb, detection.box)
                        if crop is not None:
                            crops.append(crop)
                            where.append((b, f, d))
            for (b, f, d), answer in zip(where, self.classify(crops), strict=True):
                expressions[b][f][d] = answer
        return [[FacesRecord(t=frame.t, detections=found[b][f], expressions=expressions[b][f],
                             expression_unavailable=self.expression_unavailable)
                 for f, frame in enumerate(batch.frames)] for b, batch in enumerate(batches)]

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

    def crop(self, rgb: np.ndarray, box: Box) -> np.ndarray | None:
        """The face as the classifier is fed it, or None when it is too small to read."""
        cfg = self.config
        height, width = rgb.shape[:2]
        if min((box[2] - box[0]) * width, (box[3] - box[1]) * height) < cfg.expression_min_face_px:
            return None
        y0, y1, x0, x1 = square_crop(height, width, box, cfg.expression_margin)
        crop = rgb[y0:y1, x0:x1]
        if cfg.expression_grayscale:
            # ITU-R BT.601 luma, as FER-2013's greyscale images; three equal channels for the
            # RGB input the ViT takes.
            luma = crop.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
            crop = np.repeat(np.clip(np.rint(luma), 0, 255).astype(np.uint8)[..., None], 3, 2)
        return np.ascontiguousarray(crop)

    def classify(self, crops: Sequence[np.ndarray]) -> list[FaceExpression]:
        """Each crop's expression, ``EXPRESSION_CHUNK`` crops per forward pass."""
        import torch

        out: list[FaceExpression] = []
        for start in range(0, len(crops), EXPRESSION_CHUNK):
            part = list(crops[start:start + EXPRESSION_CHUNK])
            pixels = self.processor(images=part, return_tensors="pt")["pixel_values"]
            with torch.inference_mode():
                logits = self.classifier(pixel_values=pixels.to(self.device)).logits.float()
            for p in torch.softmax(logits, dim=-1).cpu().numpy():
                order = np.argsort(-p, kind="stable")
                scores = {self.expression_labels[int(i)]: round(float(p[i]), 4) for i in order}
                top = self.expression_labels[int(order[0])]
                out.append(FaceExpression(expression=top, score=min(1.0, scores[top]),
                                          scores=scores))
        return out

    def close(self) -> None:
        if self.detector is not None:
            self.detector.close()
            self.detector = None
        if self.classifier is not None:
            self.classifier = None
            free_accelerator_memory()

    def summarize(self, records: Sequence[FacesRecord]) -> FacesSummary:
        if not records:
            return FacesSummary()
        durations = frame_durations([r.t for r in records])
        with_faces = [(r, d) for r, d in zip(records, durations, strict=True) if r.detections]
        shares = [area(det.box) for r in records for det in r.detections]
        total = sum(durations)
        screen = sum(d for _, d in with_faces)
        # Each classified face votes for its top expression with its frame's duration.
        face_time: dict[str, float] = defaultdict(float)
        for record, duration in zip(records, durations, strict=True):
            for e in record.expressions:
                if e is not None:
                    face_time[e.expression] += duration
        classified = sum(face_time.values())
        expression_shares = ({k: round(v / classified, 4)
                              for k, v in sorted(face_time.items(), key=lambda kv: (-kv[1], kv[0]))}
                             if classified > 0 else {})
        reasons = [r.expression_unavailable for r in records if r.expression_unavailable]
        return FacesSummary(
            first_seen_s=with_faces[0][0].t if with_faces else None,
            face_screen_time_s=round(screen, 3),
            face_screen_share=round(screen / total, 4) if total > 0 else None,
            max_simultaneous=max(len(r.detections) for r in records),
            mean_faces=mean_of(len(r.detections) for r in records),
            mean_face_share=mean_of(shares),
            largest_face_share=round(max(shares), 4) if shares else None,
            faces=link_faces(records, durations, self.config.link_iou, self.config.link_gap_s),
            dominant_expression=next(iter(expression_shares), None),
            expression_shares=expression_shares,
            expression_face_time_s=round(classified, 3),
            # A video's frames may come from services with and without the expression model:
            # say why wherever some frames went unclassified.
            unavailable={"expression": reasons[0]} if reasons else {})

    def timeline(self, summary: FacesSummary, records: Sequence[FacesRecord]
                 ) -> list[TimelineEvent]:
        if summary.first_seen_s is None:
            return []
        return [TimelineEvent(t=summary.first_seen_s, analyzer=self.key, label="first face")]


Seen = tuple[float, float, Detection, FaceExpression | None]  # t, duration, face, expression


def link_faces(records: Sequence[FacesRecord], durations: Sequence[float], min_iou: float,
               max_gap_s: float) -> list[FaceTrack]:
    """Faces followed across frames: each detection joins the open track whose last box it
    overlaps most (at least ``min_iou``), else starts a track; a track unseen for longer than
    ``max_gap_s`` is closed."""
    seen: list[list[Seen]] = []
    for record, duration in zip(records, durations, strict=True):
        open_ids = [i for i, track in enumerate(seen) if record.t - track[-1][0] <= max_gap_s]
        matched = match_by_iou([seen[i][-1][2].box for i in open_ids],
                               [d.box for d in record.detections], min_iou)
        for j, detection in enumerate(record.detections):
            expression = record.expressions[j] if record.expressions else None
            entry = (record.t, duration, detection, expression)
            if j in matched:
                seen[open_ids[matched[j]]].append(entry)
            else:
                seen.append([entry])
    return [FaceTrack(id=i + 1, first_seen_s=track[0][0], last_seen_s=track[-1][0],
                      frames=len(track), screen_time_s=round(sum(s[1] for s in track), 3),
                      mean_share=mean_of(area(s[2].box) for s in track) or 0.0,
                      largest_share=round(max(area(s[2].box) for s in track), 4),
                      mean_confidence=mean_of(s[2].confidence for s in track) or 0.0,
                      expression=track_expression(track))
            for i, track in enumerate(seen)]


def track_expression(track: Sequence[Seen]) -> str | None:
    time: dict[str, float] = defaultdict(float)
    for _, duration, _, expression in track:
        if expression is not None:
            time[expression.expression] += duration
    return min(time, key=lambda k: (-time[k], k)) if time else None
