"""``quality``: sharpness, noise, contrast, exposure clipping, black bars, blockiness, effective
resolution, interlacing and letterboxing per frame, per shot and per video.

Blockiness, interlacing and an upscale above the sampled size show only in frames at the
source's size: the light group's frames are 480 px on their longest side unless this
analyzer's ``max_side`` asks for more (for every light frame). The summary says when the
frames were too small for a measure instead of reporting a number that means nothing."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tiktok_analyzer.gpu_light.analyzers._picture import (
    blockiness,
    combing,
    effective_resolution,
    letterboxing,
    noise_sigma,
)
from tiktok_analyzer.shared.contracts.events import Group
from tiktok_analyzer.shared.contracts.results import StrictRecord, StrictSummary, mean_of
from tiktok_analyzer.shared.runtime.analyzers import (
    Analyzer,
    AnalyzerConfig,
    FramePolicy,
    FramesInput,
    VideoFacts,
)
from tiktok_analyzer.shared.runtime.per_shot import ShotSpan, by_shot


class QualityConfig(AnalyzerConfig):
    kind: Literal["quality"] = "quality"
    dark_level: int = Field(default=5, description="Luma at or below this counts as crushed")
    bright_level: int = Field(default=250, description="Luma at or above this counts as blown")
    bar_level: float = Field(default=20.0, description="Rows/columns darker than this are bars")
    max_side: int | None = Field(
        default=None, ge=64,
        description="Longest side of the frames it asks for (None: the light group's, 480). "
                    "The sampler renders every light frame at the largest side asked for, so "
                    "1920 (source size for 1080x1920) costs every light analyzer bigger frames; "
                    "lower TIKTOK_SAMPLING_INLINE_LIMIT_BYTES with it so that they travel "
                    "through MinIO rather than in Kafka messages")
    blocky_level: float = Field(
        default=1.6, gt=1, description="Blockiness at or above this counts as blocky (the "
                                       "sampler's own JPEG at quality 85 gives up to about 1.4 "
                                       "on a soft picture)")
    combed_level: float = Field(
        default=0.01, ge=0, description="Combing (share of pixels) at or above this counts as "
                                        "interlaced")
    upscaled_below: float = Field(
        default=0.8, gt=0, le=1,
        description="A frame whose effective resolution is under this share of its short side "
                    "counts as upscaled")


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def laplacian_variance(gray: np.ndarray) -> float:
    lap = (gray[1:-1, :-2] + gray[1:-1, 2:] + gray[:-2, 1:-1] + gray[2:, 1:-1]
           - 4 * gray[1:-1, 1:-1])
    return float(lap.var())


def _bar_share(profile: np.ndarray, level: float) -> float:
    dark = profile < level
    n = 0
    while n < len(dark) and dark[n]:
        n += 1
    return n / len(dark)


class BlackBars(BaseModel):
    """Share of the frame's height (top, bottom) or width (left, right) that is a dark bar."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    top: float
    bottom: float
    left: float
    right: float


def black_bars(gray: np.ndarray, level: float) -> BlackBars:
    rows, cols = gray.mean(axis=1), gray.mean(axis=0)
    return BlackBars(top=round(_bar_share(rows, level), 4),
                     bottom=round(_bar_share(rows[::-1], level), 4),
                     left=round(_bar_share(cols, level), 4),
                     right=round(_bar_share(cols[::-1], level), 4))


class Letterbox(BaseModel):
    """A landscape picture inside a portrait frame, between two bars."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    top: float = Field(description="Share of the height above the picture")
    bottom: float = Field(description="Share of the height below the picture")
    content_aspect: float = Field(description="The picture's width over its height")
    fill: Literal["black", "solid", "blurred"] = Field(
        description="The bars: black, one other colour, or a blurred copy of the picture")


class QualityRecord(StrictRecord):
    width: int
    height: int
    sharpness: float = Field(description="Variance of the Laplacian of luma")
    noise: float = Field(description="Noise sigma, luma levels (Immerkaer, median-based)")
    contrast: float = Field(description="Luma standard deviation, 0..1")
    clipped_dark: float = Field(description="Share of crushed pixels")
    clipped_bright: float = Field(description="Share of blown pixels")
    black_bars: BlackBars
    # The fields below came with version 2; null in a version 1 record (a rolling upgrade).
    blockiness: float | None = Field(
        default=None,
        description="Luma steps across an 8x8 grid over steps between its lines (1: none)")
    effective_resolution: int | None = Field(
        default=None, description="Short side in pixels the frame's detail needs (its own "
                                  "short side when sharp); null for a flat frame")
    combing: float | None = Field(
        default=None, description="Share of pixels showing interlace combing")
    letterbox: Letterbox | None = Field(
        default=None, description="A landscape picture between bars, if any")


class QualityShot(ShotSpan):
    sharpness_mean: float | None = None
    noise_mean: float | None = None
    contrast_mean: float | None = None
    clipped_dark_mean: float | None = None
    clipped_bright_mean: float | None = None
    blockiness_mean: float | None = None
    effective_resolution: int | None = None


class QualitySummary(StrictSummary):
    sharpness_mean: float | None = None
    sharpness_min: float | None = None
    noise_mean: float | None = None
    contrast_mean: float | None = None
    clipped_dark_mean: float | None = None
    clipped_bright_mean: float | None = None
    black_bars: BlackBars | None = Field(default=None, description="On the middle frame")
    blockiness_mean: float | None = None
    blocky_share: float | None = Field(
        default=None, description="Share of frames at or above `blocky_level`")
    effective_resolution: int | None = Field(
        default=None, description="Median over frames, pixels of the short side")
    frame_short_side: int | None = Field(
        default=None, description="Short side of the frames measured (median)")
    upscaled: bool | None = Field(
        default=None, description="The picture holds less detail than its frames: true when "
                                  "the effective resolution is under `upscaled_below` of the "
                                  "frames' short side; null when frames smaller than the "
                                  "source cannot tell")
    interlaced_share: float | None = Field(
        default=None, description="Share of frames showing combing at or above `combed_level`")
    letterboxed_share: float | None = Field(
        default=None, description="Share of frames with a landscape picture between bars")
    letterbox: Letterbox | None = Field(
        default=None, description="The typical letterbox (median bars, commonest fill) when "
                                  "most frames have one")
    shots: list[QualityShot] = Field(
        default_factory=list, description="Per shot (the sampler's); empty when unknown")
    unavailable: dict[str, str] = Field(
        default_factory=dict, description="Field -> why it is null")


def _median_int(values: Sequence[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return int(statistics.median(present)) if present else None


def _share(flags: Sequence[bool]) -> float | None:
    return round(sum(flags) / len(flags), 4) if flags else None


class QualityAnalyzer(Analyzer[QualityConfig, FramesInput, QualityRecord, QualitySummary]):
    key: ClassVar[str] = "quality"
    group: ClassVar[Group] = Group.GPU_LIGHT
    version: ClassVar[str] = "2"
    batch_size: ClassVar[int] = 8
    inputs = FramePolicy()
    config_model = QualityConfig
    record_model = QualityRecord
    summary_model = QualitySummary
    headline = ("sharpness_mean",)

    @classmethod
    def frame_policy(cls, config: AnalyzerConfig) -> FramePolicy | None:
        policy = super().frame_policy(config)
        if policy is not None and isinstance(config, QualityConfig) and config.max_side:
            return replace(policy, max_side=config.max_side)
        return policy

    def process(self, batch: FramesInput) -> list[QualityRecord]:
        cfg = self.config
        records = []
        for frame in batch.frames:
            gray = luma(frame.rgb)
            box = letterboxing(gray)
            records.append(QualityRecord(
                t=frame.t,
                width=int(frame.rgb.shape[1]),
                height=int(frame.rgb.shape[0]),
                sharpness=round(laplacian_variance(gray), 3),
                noise=round(noise_sigma(gray), 3),
                contrast=round(float(gray.std() / 255.0), 4),
                clipped_dark=round(float((gray <= cfg.dark_level).mean()), 4),
                clipped_bright=round(float((gray >= cfg.bright_level).mean()), 4),
                black_bars=black_bars(gray, cfg.bar_level),
                blockiness=blockiness(gray),
                effective_resolution=effective_resolution(gray),
                combing=combing(gray),
                letterbox=Letterbox(top=box.top, bottom=box.bottom,
                                    content_aspect=box.content_aspect, fill=box.fill)
                if box else None,
            ))
        return records

    def summarize_with(self, records: Sequence[QualityRecord], video: VideoFacts
                       ) -> QualitySummary:
        cfg = self.config
        unavailable: dict[str, str] = {}
        frame_short = _median_int([min(r.width, r.height) for r in records])
        source_short = min(video.width, video.height) if video.width and video.height else None
        full_size = (frame_short is not None and source_short is not None
                     and frame_short >= 0.9 * source_short)
        if records and source_short is not None and not full_size:
            why = (f"frames were {frame_short} px on their short side, the source "
                   f"{source_short}: set quality's max_side to the source's longest side")
            for name in ("blockiness_mean", "blocky_share", "interlaced_share"):
                unavailable[name] = why
        effective = _median_int([r.effective_resolution for r in records])
        upscaled: bool | None = None
        if effective is not None and frame_short:
            if effective < cfg.upscaled_below * frame_short:
                upscaled = True
            elif full_size:
                upscaled = False
            else:
                unavailable["upscaled"] = ("frames smaller than the source show no upscale "
                                           "above their own size")
        letterboxed = [r.letterbox for r in records if r.letterbox is not None]
        return QualitySummary(
            sharpness_mean=mean_of(r.sharpness for r in records),
            sharpness_min=round(min(r.sharpness for r in records), 4) if records else None,
            noise_mean=mean_of(r.noise for r in records),
            contrast_mean=mean_of(r.contrast for r in records),
            clipped_dark_mean=mean_of(r.clipped_dark for r in records),
            clipped_bright_mean=mean_of(r.clipped_bright for r in records),
            black_bars=records[len(records) // 2].black_bars if records else None,
            blockiness_mean=(None if "blockiness_mean" in unavailable
                             else mean_of((r.blockiness for r in records), 3)),
            blocky_share=(None if "blocky_share" in unavailable
                          else _share([r.blockiness >= cfg.blocky_level for r in records
                                       if r.blockiness is not None])),
            effective_resolution=effective,
            frame_short_side=frame_short,
            upscaled=upscaled,
            interlaced_share=(None if "interlaced_share" in unavailable
                              else _share([r.combing >= cfg.combed_level for r in records
                                           if r.combing is not None])),
            letterboxed_share=_share([r.letterbox is not None for r in records]),
            letterbox=_typical(letterboxed) if 2 * len(letterboxed) > len(records) else None,
            shots=[_shot(start, end, part) for start, end, part in by_shot(records, video)],
            unavailable=unavailable,
        )


def _typical(boxes: Sequence[Letterbox]) -> Letterbox:
    return Letterbox(top=round(statistics.median(b.top for b in boxes), 4),
                     bottom=round(statistics.median(b.bottom for b in boxes), 4),
                     content_aspect=round(statistics.median(b.content_aspect for b in boxes), 3),
                     fill=Counter(b.fill for b in boxes).most_common(1)[0][0])


def _shot(start: float, end: float, records: Sequence[QualityRecord]) -> QualityShot:
    return QualityShot(
        start_s=start, end_s=end, frames=len(records),
        sharpness_mean=mean_of(r.sharpness for r in records),
        noise_mean=mean_of(r.noise for r in records),
        contrast_mean=mean_of(r.contrast for r in records),
        clipped_dark_mean=mean_of(r.clipped_dark for r in records),
        clipped_bright_mean=mean_of(r.clipped_bright for r in records),
        blockiness_mean=mean_of((r.blockiness for r in records), 3),
        effective_resolution=_median_int([r.effective_resolution for r in records]))
