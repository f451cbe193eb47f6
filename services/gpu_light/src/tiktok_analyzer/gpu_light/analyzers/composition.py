"""``composition``: where the subject sits (rule of thirds), what draws the eye (a saliency
map's summary), left-right symmetry and balance, and whether faces, on-screen text or the
salient subject sit under TikTok's overlays (the top bar, the right-hand buttons, the caption
and sound area).

A derived analyzer: the subject is the largest face when ``faces`` ran on the frame, else the
most salient region (OpenCV's spectral-residual saliency); text boxes come from ``ocr``. Each
record says which it used, and why a missing one was not there. Overlay zones are settings
in fractions of the frame."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tiktok_analyzer.gpu_light.analyzers._layout import (
    DEFAULT_ZONES,
    Box,
    Placement,
    Zone,
    balance,
    centroid_and_spread,
    placement,
    share_inside,
    symmetry,
    thirds_distance,
)
from tiktok_analyzer.shared.contracts.events import AnalyzerStatus, Group
from tiktok_analyzer.shared.contracts.results import (
    Detection,
    FrameDetections,
    StrictRecord,
    StrictSummary,
    mean_of,
)
from tiktok_analyzer.shared.runtime.analyzers import (
    AnalyzerConfig,
    AnalyzerOutcome,
    DecodedFrame,
    DerivedAnalyzer,
    FramePolicy,
    FramesInput,
)
from tiktok_analyzer.shared.runtime.upstream import why_unavailable

What = Literal["face", "text", "subject"]
_WORK_SIDE = 256  # saliency is computed at 64x64 inside OpenCV; more pixels add nothing


class CompositionConfig(AnalyzerConfig):
    kind: Literal["composition"] = "composition"
    zones: tuple[Zone, ...] = Field(
        default=DEFAULT_ZONES,
        description="Overlays of the app, boxes in fractions of the frame (x1, y1, x2, y2); "
                    "defaults: TikTok's feed (top bar, right-hand buttons, caption and sound)")
    min_overlap: float = Field(
        default=0.3, gt=0, le=1,
        description="A face, text or subject is under a zone when this share of its box is")
    thirds_tolerance: float = Field(
        default=0.06, gt=0, lt=0.17,
        description="How near (in fractions of the frame) a subject's centre must be to a "
                    "third line, a power point or the centre to count as on it")


class Subject(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Literal["face", "saliency"]
    box: Box
    center: tuple[float, float]


class Overlap(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    zone: str
    what: What
    share: float = Field(description="Share of its box under the zone")


class CompositionRecord(StrictRecord):
    subject: Subject | None = Field(description="Null on a frame with nothing salient")
    placement: Placement | None = None
    thirds_distance: float | None = Field(
        default=None, description="Subject centre to the nearest power point, frame fractions")
    saliency_centroid: tuple[float, float] | None = None
    saliency_spread: float | None = Field(
        default=None, description="RMS distance of the saliency from its centroid (frame "
                                  "fractions): small when one thing draws the eye")
    salient_share: float = Field(description="Share of the frame the saliency map marks")
    symmetry: float | None = Field(
        default=None, description="Left half against the mirrored right half, -1..1")
    balance: float | None = Field(
        default=None, description="1: saliency split evenly left and right; 0: one-sided")
    under_overlays: list[Overlap] = Field(default_factory=list)
    unavailable: dict[str, str] = Field(
        default_factory=dict, description="faces / ocr -> why not used on this frame")


class ZoneShare(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    zone: str
    what: What
    share: float = Field(description="Share of the frames")


class CompositionSummary(StrictSummary):
    frames: int = 0
    subject_is_face: float | None = Field(
        default=None, description="Share of frames whose subject is a face (else saliency)")
    placements: dict[str, float] = Field(
        default_factory=dict, description="Share of frames per placement of the subject")
    thirds_distance_mean: float | None = None
    saliency_centroid: tuple[float, float] | None = None
    symmetry_mean: float | None = None
    balance_mean: float | None = None
    under_overlays: list[ZoneShare] = Field(
        default_factory=list, description="What sat under which overlay, share of frames")
    clear_share: float | None = Field(
        default=None, description="Share of frames with nothing under an overlay")
    unavailable: dict[str, str] = Field(
        default_factory=dict, description="faces / ocr -> why not used (on most frames)")


def _boxes_by_time(key: str, outcome: AnalyzerOutcome | None
                   ) -> tuple[dict[float, list[Detection]] | None, str | None]:
    """An upstream's boxes per frame time, or why there are none."""
    if outcome is None or outcome.status is not AnalyzerStatus.OK:
        return None, why_unavailable(key, outcome.status if outcome else None,
                                     outcome.reason if outcome else None,
                                     installed=outcome is not None or _installed(key))
    boxes: dict[float, list[Detection]] = {}
    for record in outcome.records:
        try:
            # Only the boxes: an upstream's records may carry more (ocr's say how each
            # frame was read), which is no concern of composition's.
            frame = FrameDetections.model_validate(
                record.model_dump(include={"t", "detections"}))
        except ValidationError:
            return None, f"analyzer {key}'s records are not frame detections"
        boxes[round(frame.t, 3)] = list(frame.detections)
    return boxes, None


def _installed(key: str) -> bool:
    from tiktok_analyzer.shared.runtime.plugins import discover

    return key in discover()


def _saliency(rgb: np.ndarray) -> np.ndarray:
    """The spectral-residual saliency map (Hou and Zhang 2007), 0..1, at a working size."""
    import cv2

    height, width = rgb.shape[:2]
    scale = min(1.0, _WORK_SIDE / max(height, width))
    small = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                       interpolation=cv2.INTER_AREA)
    # OpenCV's type stubs leave out the contrib modules; the call is checked by the tests.
    detector = cv2.saliency.StaticSaliencySpectralResidual_create()  # type: ignore[attr-defined]
    ok, saliency = detector.computeSaliency(cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("OpenCV's saliency failed on a frame")
    return np.asarray(saliency, dtype=np.float32)


def _salient_region(saliency: np.ndarray) -> tuple[Box, tuple[float, float], np.ndarray] | None:
    """The connected region above Otsu's threshold holding most saliency: its box, its
    saliency-weighted centre, and the mask of every marked pixel."""
    import cv2

    peak = float(saliency.max())
    if peak <= 0:
        return None
    levels = (saliency / peak * 255).astype(np.uint8)
    _, marked = cv2.threshold(levels, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(marked)
    if count < 2:
        return None
    mass = np.bincount(labels.ravel(), weights=saliency.ravel(), minlength=count)
    best = 1 + int(np.argmax(mass[1:]))
    region = np.where(labels == best, saliency, 0.0)
    found = centroid_and_spread(region)
    if found is None:
        return None
    height, width = saliency.shape
    x, y, w, h = (int(v) for v in stats[best][:4])
    return (x / width, y / height, (x + w) / width, (y + h) / height), found[0], marked > 0


class CompositionAnalyzer(DerivedAnalyzer[CompositionConfig, FramesInput, CompositionRecord,
                                          CompositionSummary]):
    key: ClassVar[str] = "composition"
    group: ClassVar[Group] = Group.GPU_LIGHT
    batch_size: ClassVar[int] = 8
    inputs = FramePolicy()
    config_model = CompositionConfig
    record_model = CompositionRecord
    summary_model = CompositionSummary
    requires: ClassVar[tuple[str, ...]] = ("faces", "ocr")

    def derive(self, batch: FramesInput, upstream: Mapping[str, AnalyzerOutcome]
               ) -> list[CompositionRecord]:
        faces, faces_why = _boxes_by_time("faces", upstream.get("faces"))
        texts, texts_why = _boxes_by_time("ocr", upstream.get("ocr"))
        return [self._frame(frame, faces, faces_why, texts, texts_why) for frame in batch.frames]

    def _frame(self, frame: DecodedFrame,
               faces: dict[float, list[Detection]] | None, faces_why: str | None,
               texts: dict[float, list[Detection]] | None, texts_why: str | None
               ) -> CompositionRecord:
        cfg = self.config
        unavailable: dict[str, str] = {}
        t = round(frame.t, 3)
        frame_faces = self._on_frame("faces", t, faces, faces_why, unavailable)
        frame_texts = self._on_frame("ocr", t, texts, texts_why, unavailable)
        saliency = _saliency(frame.rgb)
        spread = centroid_and_spread(saliency)
        region = _salient_region(saliency)

        subject: Subject | None = None
        if frame_faces:
            face = max(frame_faces, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
            center = ((face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2)
            subject = Subject(source="face", box=face.box, center=_point(*center))
        elif region is not None:
            x1, y1, x2, y2 = region[0]
            subject = Subject(source="saliency", center=_point(*region[1]),
                              box=(*_point(x1, y1), *_point(x2, y2)))

        elements: list[tuple[What, Box]] = [("face", d.box) for d in frame_faces]
        elements += [("text", d.box) for d in frame_texts]
        if subject is not None and subject.source == "saliency":
            elements.append(("subject", subject.box))
        overlaps = [Overlap(zone=zone.name, what=what, share=round(share, 3))
                    for zone in cfg.zones for what, box in elements
                    if (share := share_inside(box, zone.box)) >= cfg.min_overlap]
        gray = frame.rgb.astype(np.float32).mean(axis=2)
        return CompositionRecord(
            t=frame.t, subject=subject,
            placement=(placement(*subject.center, cfg.thirds_tolerance) if subject else None),
            thirds_distance=(round(thirds_distance(*subject.center), 4) if subject else None),
            saliency_centroid=spread[0] if spread else None,
            saliency_spread=spread[1] if spread else None,
            salient_share=round(float(region[2].mean()), 4) if region else 0.0,
            symmetry=symmetry(gray),
            # The marked saliency only: the faint saliency of a plain background is everywhere.
            balance=balance(np.where(region[2], saliency, 0.0) if region else saliency),
            under_overlays=overlaps, unavailable=unavailable)

    @staticmethod
    def _on_frame(key: str, t: float, boxes: dict[float, list[Detection]] | None,
                  why: str | None, unavailable: dict[str, str]) -> list[Detection]:
        if boxes is None:
            unavailable[key] = why or f"analyzer {key} gave nothing"
            return []
        if t not in boxes:
            unavailable[key] = f"analyzer {key} did not look at this frame"
            return []
        return boxes[t]

    def summarize(self, records: Sequence[CompositionRecord]) -> CompositionSummary:
        count = len(records)
        if not count:
            return CompositionSummary()
        with_subject = [r for r in records if r.subject is not None]
        places = Counter(r.placement for r in records if r.placement is not None)
        under = Counter((o.zone, o.what) for r in records
                        for o in {(o.zone, o.what): o for o in r.under_overlays}.values())
        reasons: dict[str, Counter[str]] = {}
        for r in records:
            for key, why in r.unavailable.items():
                reasons.setdefault(key, Counter())[why] += 1
        centroids = [r.saliency_centroid for r in records if r.saliency_centroid is not None]
        return CompositionSummary(
            frames=count,
            subject_is_face=(round(sum(r.subject.source == "face" for r in with_subject
                                       if r.subject) / len(with_subject), 4)
                             if with_subject else None),
            placements={p: round(n / count, 4) for p, n in places.most_common()},
            thirds_distance_mean=mean_of(r.thirds_distance for r in records),
            saliency_centroid=(_point(sum(c[0] for c in centroids) / len(centroids),
                                      sum(c[1] for c in centroids) / len(centroids))
                               if centroids else None),
            symmetry_mean=mean_of(r.symmetry for r in records),
            balance_mean=mean_of(r.balance for r in records),
            under_overlays=[ZoneShare(zone=zone, what=what, share=round(n / count, 4))
                            for (zone, what), n in under.most_common()],
            clear_share=round(sum(not r.under_overlays for r in records) / count, 4),
            unavailable={key: c.most_common(1)[0][0] for key, c in reasons.items()
                         if 2 * sum(c.values()) > count},
        )


def _point(x: float, y: float) -> tuple[float, float]:
    return round(float(x), 4), round(float(y), 4)
