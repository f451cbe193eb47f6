"""``ocr``: on-screen text per sampled frame (EasyOCR: boxes, text, confidence), linked into text
tracks with start and end, screen position, text size, and whether they look like burned-in
captions.

Frames come at 2 per second: a track's start and end are then known to within half a second,
shorter than a caption phrase usually stays up (about 1 to 2 s), and it is the light group's
own rate, so OCR costs the sampler no extra frames.

OCR is the slowest analyzer of the suite (a second or more per frame on a CPU, nearly all of
it in CRAFT detection), so it does not read what has not changed: within a batch each frame is
compared with the picture its current lines were read from, only the changed area is detected
again, and only new or changed lines are recognised (``_ocr_reuse``). The first frame of every
batch is read whole, so a batch's records depend on that batch alone and a replay gives the
same ones. Each record says how it was read (``full``, ``changed``, ``reused``) and the summary
counts frames seen against frames read. The tracks are linked in ``summarize`` once the whole
video is known (``_text_tracks``).

Frames are the light group's size (480 px on the longest side unless ``max_side`` asks for
more): text under about 10 px high there (2 % of a portrait frame's height) is missed; raise
``max_side`` (every light frame grows) or ``mag_ratio`` (detection only, slower) for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tiktok_analyzer.gpu_light.analyzers._easyocr_engine import DetectParams, PixelBox
from tiktok_analyzer.gpu_light.analyzers._ocr_reuse import (
    Line,
    changed_area,
    iou,
    overlaps,
    unchanged,
)
from tiktok_analyzer.gpu_light.analyzers._text_tracks import link_text
from tiktok_analyzer.shared.contracts.events import Group
from tiktok_analyzer.shared.contracts.report import TimelineEvent
from tiktok_analyzer.shared.contracts.results import (
    Detection,
    FrameDetections,
    StrictSummary,
    frame_durations,
)
from tiktok_analyzer.shared.errors import ConfigError
from tiktok_analyzer.shared.runtime.analyzers import (
    Analyzer,
    AnalyzerConfig,
    FramePolicy,
    FramesInput,
    LoadContext,
    VideoFacts,
)
from tiktok_analyzer.shared.runtime.models import resolve_device

ReadKind = Literal["full", "changed", "reused"]


class OcrConfig(AnalyzerConfig):
    kind: Literal["ocr"] = "ocr"
    canvas_size: int = Field(
        default=1280, ge=64, description="Longest side CRAFT detection works at, pixels "
                                         "(EasyOCR's canvas_size; larger frames are shrunk)")
    mag_ratio: float = Field(
        default=1.0, gt=0, le=4,
        description="Magnification before detection (EasyOCR's mag_ratio): above 1 finds "
                    "smaller text, at about the square of the cost")
    text_threshold: float = Field(default=0.7, ge=0, le=1, description="CRAFT text confidence")
    low_text: float = Field(default=0.4, ge=0, le=1, description="CRAFT text lower bound")
    link_threshold: float = Field(default=0.4, ge=0, le=1, description="CRAFT link confidence")
    min_size: int = Field(default=10, ge=0, description="Smallest text box kept, pixels")
    min_confidence: float = Field(
        default=0.3, ge=0, le=1, description="Lines read with less confidence are not reported")
    recognize_batch: int = Field(default=8, ge=1, description="Lines per recogniser call (GPU)")
    reuse: bool = Field(
        default=True, description="Detect and read only what changed since the frame before "
                                  "(in the same batch); False reads every frame whole")
    change_threshold: float = Field(
        default=6.0, gt=0,
        description="Mean absolute grey difference (0-255) above which a cell counts as changed")
    cell_px: int = Field(default=16, ge=4, description="Side of the change-detection cells")
    full_frame_share: float = Field(
        default=0.5, gt=0, le=1,
        description="When the changed area exceeds this share of the frame, detect it whole")
    torch_threads: int = Field(
        default=0, ge=0, description="torch CPU threads (process-wide); 0 leaves torch's own")
    max_side: int | None = Field(
        default=None, ge=64,
        description="Longest side of the frames it asks for (None: the light group's, 480); "
                    "every light frame grows with it (see quality's max_side)")
    track_similarity: float = Field(
        default=0.8, gt=0, le=1,
        description="Least difflib ratio of two normalised readings of one text")
    track_iou: float = Field(
        default=0.3, ge=0, le=1, description="Least box IoU to continue a track (or centres "
                                             "within one text height)")
    track_max_gap_s: float = Field(
        default=1.0, ge=0, description="Longest a text may go unread and continue its track")
    caption_top: float = Field(
        default=0.5, ge=0, le=1,
        description="Caption zone: a line whose centre is below this share of the height...")
    caption_center_tolerance: float = Field(
        default=0.2, ge=0, le=0.5, description="... and within this of the horizontal centre")
    caption_min_tracks: int = Field(
        default=3, ge=1, description="Distinct texts in the caption zone that make it captions "
                                     "(text that changes often)")


class OcrFrame(FrameDetections):
    """The text lines on one sampled frame: ``detections`` with ``label`` = the text read, its
    confidence and its box (x1, y1, x2, y2 in 0..1 of the frame)."""

    read: ReadKind = Field(
        description="full: detected and read whole; changed: only the changed area detected "
                    "again; reused: nothing changed, the lines of the frame before")
    regions_read: int = Field(ge=0, description="Lines recognised on this frame")
    regions_reused: int = Field(ge=0, description="Lines carried over unread")


class TextTrack(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: int = Field(description="Numbered from 1 by first appearance")
    text: str = Field(description="The most frequent reading")
    t: float = Field(description="First sampled frame showing it, seconds")
    end_t: float = Field(description="First sampled frame after it without it (or the end)")
    frames: int
    confidence: float = Field(description="Mean confidence of its readings")
    box: tuple[float, float, float, float] = Field(description="Median box, 0..1 of the frame")
    center: tuple[float, float]
    height: float = Field(description="Text height as a share of the frame height")
    position: str = Field(description="top / middle / bottom - left / center / right")
    caption: bool = Field(description="In the caption zone of a video with burned-in captions")
    readings: list[str] = Field(description="Distinct readings, up to five")


class OcrSummary(StrictSummary):
    frames_seen: int = 0
    frames_read: int = Field(default=0, description="Frames CRAFT detection ran on, whole or "
                                                    "the changed area")
    frames_reused: int = Field(default=0, description="Frames nothing changed on (not read)")
    regions_read: int = 0
    regions_reused: int = 0
    first_seen_s: float | None = Field(default=None, description="First on-screen text")
    text_screen_share: float | None = Field(
        default=None, description="Share of time with on-screen text")
    burned_in_captions: bool = Field(
        default=False, description="Bottom-centred text that changes often")
    caption_tracks: int = 0
    tracks: list[TextTrack] = Field(default_factory=list)


def _position(cx: float, cy: float) -> str:
    row = "top" if cy < 1 / 3 else "middle" if cy < 2 / 3 else "bottom"
    col = "left" if cx < 1 / 3 else "center" if cx < 2 / 3 else "right"
    return f"{row}-{col}"


class OcrAnalyzer(Analyzer[OcrConfig, FramesInput, OcrFrame, OcrSummary]):
    key: ClassVar[str] = "ocr"
    group: ClassVar[Group] = Group.GPU_LIGHT
    version: ClassVar[str] = "1"
    # A whole light batch (8 frames by default) in one call: reuse runs within a call.
    batch_size: ClassVar[int] = 16
    inputs = FramePolicy(every_s=0.5)
    config_model = OcrConfig
    record_model = OcrFrame
    summary_model = OcrSummary
    model_entry = "ocr"
    headline = ("text_screen_share",)
    engine: Any = None  # _easyocr_engine.EasyOcrEngine once loaded

    @classmethod
    def frame_policy(cls, config: AnalyzerConfig) -> FramePolicy | None:
        policy = super().frame_policy(config)
        if policy is not None and isinstance(config, OcrConfig) and config.max_side:
            return replace(policy, max_side=config.max_side)
        return policy

    def load(self, context: LoadContext) -> None:
        pinned, folder = context.model_store.require(self.key)
        try:
            import torch

            from tiktok_analyzer.gpu_light.analyzers._easyocr_engine import EasyOcrEngine
        except ImportError as exc:  # the plugin is importable without its runtime extra
            raise ConfigError("easyocr is not installed: install "
                              "tiktok-analyzer-gpu-light[runtime]") from exc
        if self.config.torch_threads:
            torch.set_num_threads(self.config.torch_threads)
        self.device = resolve_device(context.device)
        self.engine = EasyOcrEngine(folder, self.device)
        self.model_id, self.model_revision = pinned.model_id, pinned.revision

    def warm_up(self) -> None:
        self.engine.detect(np.full((64, 64, 3), 255, np.uint8), self._params())

    def close(self) -> None:
        self.engine = None

    def _params(self) -> DetectParams:
        cfg = self.config
        return DetectParams(cfg.canvas_size, cfg.mag_ratio, cfg.text_threshold, cfg.low_text,
                            cfg.link_threshold, cfg.min_size)

    def process(self, batch: FramesInput) -> list[OcrFrame]:
        import cv2

        cfg = self.config
        records = []
        reference: np.ndarray | None = None  # the picture ``lines`` were read from
        lines: list[Line] = []
        for frame in batch.frames:
            gray = cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2GRAY)
            height, width = gray.shape
            whole: PixelBox = (0, 0, width, height)
            area: PixelBox | None = whole
            kind: ReadKind = "full"
            if reference is not None and cfg.reuse:
                area = changed_area(reference, gray, lines, cfg.cell_px, cfg.change_threshold)
                kind = "reused" if area is None else "changed"
                if area is not None and ((area[2] - area[0]) * (area[3] - area[1])
                                         > cfg.full_frame_share * width * height):
                    area, kind = whole, "full"
            read = reused = 0
            if area is None:
                reused = len(lines)
            else:
                lines, read, reused = self._look(frame.rgb, gray, area, reference, lines)
                if reference is None or area == whole:
                    reference = gray.copy()
                else:
                    x1, y1, x2, y2 = area
                    reference[y1:y2, x1:x2] = gray[y1:y2, x1:x2]
            records.append(OcrFrame(
                t=frame.t, read=kind, regions_read=read, regions_reused=reused,
                detections=[self._detection(line, width, height) for line in lines
                            if line.text.strip() and line.confidence >= cfg.min_confidence]))
        return records

    def _look(self, rgb: np.ndarray, gray: np.ndarray, area: PixelBox,
              reference: np.ndarray | None, lines: list[Line]) -> tuple[list[Line], int, int]:
        """Detect again inside ``area``; lines outside it are kept; a line found again whose
        pixels did not change keeps its reading; the rest are recognised. Returns the lines
        (top to bottom) and how many were read and carried over."""
        cfg = self.config
        x1, y1, x2, y2 = area
        found = [(bx1 + x1, by1 + y1, bx2 + x1, by2 + y1)
                 for bx1, by1, bx2, by2 in self.engine.detect(rgb[y1:y2, x1:x2], self._params())]
        kept = [line for line in lines if not overlaps(line.box, area)]
        to_read: list[PixelBox] = []
        for box in found:
            same = (None if reference is None else next(
                (line for line in lines if iou(line.box, box) >= 0.7
                 and unchanged(reference, gray, box, cfg.change_threshold)), None))
            if same is not None:
                kept.append(Line(box, same.text, same.confidence))
            else:
                to_read.append(box)
        reused = len(kept)
        texts = self.engine.recognize(gray, to_read, cfg.recognize_batch)
        kept += [Line(box, text, conf) for box, (text, conf) in zip(to_read, texts, strict=True)]
        return sorted(kept, key=lambda line: (line.box[1], line.box[0])), len(to_read), reused

    @staticmethod
    def _detection(line: Line, width: int, height: int) -> Detection:
        x1, y1, x2, y2 = line.box
        return Detection(label=line.text.strip(), confidence=round(min(1.0, line.confidence), 4),
                         box=(round(x1 / width, 4), round(y1 / height, 4),
                              round(x2 / width, 4), round(y2 / height, 4)))

    # --- the report ------------------------------------------------------------------------

    def summarize_with(self, records: Sequence[OcrFrame], video: VideoFacts) -> OcrSummary:
        cfg = self.config
        # A replayed batch can deliver a frame twice: keep one record per time.
        frames = sorted({round(r.t, 3): r for r in records}.values(), key=lambda r: r.t)
        times = [r.t for r in frames]
        durations = frame_durations(times)
        total = sum(durations)
        with_text = sum(d for r, d in zip(frames, durations, strict=True) if r.detections)
        linked = link_text([(r.t, r.detections) for r in frames], cfg.track_similarity,
                           cfg.track_iou, cfg.track_max_gap_s)
        end_of_video = video.duration_s if video.duration_s is not None else float("inf")

        def after(t: float) -> float:
            i = times.index(t)
            nxt = times[i + 1] if i + 1 < len(times) else t + durations[i]
            return round(min(nxt, max(t, end_of_video)), 3)

        def in_zone(box: tuple[float, float, float, float]) -> bool:
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            return cy >= cfg.caption_top and abs(cx - 0.5) <= cfg.caption_center_tolerance

        zone = sum(1 for tr in linked if in_zone(tr.box))
        captions = zone >= cfg.caption_min_tracks
        tracks = []
        for n, tr in enumerate(linked, start=1):
            box = tr.box
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            readings = list(dict.fromkeys(d.label for d in tr.lines))[:5]
            tracks.append(TextTrack(
                id=n, text=tr.text, t=tr.times[0], end_t=after(tr.times[-1]),
                frames=len(tr.times),
                confidence=round(sum(d.confidence for d in tr.lines) / len(tr.lines), 4),
                box=(round(box[0], 4), round(box[1], 4), round(box[2], 4), round(box[3], 4)),
                center=(round(cx, 4), round(cy, 4)), height=round(box[3] - box[1], 4),
                position=_position(cx, cy), caption=captions and in_zone(box),
                readings=readings))
        return OcrSummary(
            frames_seen=len(frames),
            frames_read=sum(1 for r in frames if r.read != "reused"),
            frames_reused=sum(1 for r in frames if r.read == "reused"),
            regions_read=sum(r.regions_read for r in frames),
            regions_reused=sum(r.regions_reused for r in frames),
            first_seen_s=next((r.t for r in frames if r.detections), None),
            text_screen_share=round(with_text / total, 4) if total > 0 else None,
            burned_in_captions=captions, caption_tracks=zone if captions else 0, tracks=tracks)

    def timeline(self, summary: OcrSummary, records: Sequence[OcrFrame]) -> list[TimelineEvent]:
        return [TimelineEvent(t=tr.t, analyzer=self.key, label=f"text “{tr.text}”")
                for tr in summary.tracks if not tr.caption]
