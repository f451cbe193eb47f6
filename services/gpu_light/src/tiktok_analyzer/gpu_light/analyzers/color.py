"""``color``: dominant palette, brightness, saturation, colourfulness and warmth per frame, per
shot and per video."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

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


class ColorConfig(AnalyzerConfig):
    kind: Literal["color"] = "color"
    palette_size: int = Field(default=5, ge=1, le=16)
    levels: int = Field(default=8, ge=2, le=32, description="Quantisation levels per channel")
    max_pixels: int = Field(default=160 * 160, description="Pixels examined per frame")


def _downsample(rgb: np.ndarray, max_pixels: int) -> np.ndarray:
    step = max(1, int(np.sqrt(rgb.shape[0] * rgb.shape[1] / max_pixels)))
    return rgb[::step, ::step]


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler & Suesstrunk (2003) colourfulness metric."""
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


class Swatch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bin: int = Field(description="Quantisation bin (merges swatches across frames)")
    rgb: tuple[int, int, int]
    hex: str
    share: float = Field(ge=0, le=1, description="Share of the frame's pixels")


class ColorRecord(StrictRecord):
    palette: list[Swatch]
    brightness: float = Field(description="Mean of max(R, G, B), 0..1")
    saturation: float = Field(description="Mean HSV saturation, 0..1")
    colorfulness: float = Field(description="Hasler & Suesstrunk colourfulness")
    warmth: float = Field(description="Mean of R - B, -1..1 (positive: warm)")


class DominantColor(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    hex: str
    rgb: tuple[int, int, int]
    share: float


class ColorShot(ShotSpan):
    dominant_colors: list[DominantColor] = Field(default_factory=list, description="Top three")
    brightness: float | None = None
    saturation: float | None = None
    colorfulness: float | None = None
    warmth: float | None = None


class ColorSummary(StrictSummary):
    dominant_colors: list[DominantColor] = Field(default_factory=list)
    brightness: float | None = None
    saturation: float | None = None
    colorfulness: float | None = None
    warmth: float | None = None
    shots: list[ColorShot] = Field(
        default_factory=list, description="Per shot (the sampler's); empty when unknown")


def palette(rgb: np.ndarray, levels: int, size: int) -> list[Swatch]:
    pixels = rgb.reshape(-1, 3)
    q = (pixels.astype(np.int32) * levels) // 256
    bins = (q[:, 0] * levels + q[:, 1]) * levels + q[:, 2]
    counts = np.bincount(bins, minlength=levels**3)
    swatches = []
    for b in np.argsort(counts)[::-1][:size]:
        if counts[b] == 0:
            break
        mean = pixels[bins == b].mean(axis=0).round().astype(int)
        swatches.append(Swatch(
            bin=int(b), rgb=(int(mean[0]), int(mean[1]), int(mean[2])),
            hex="#{:02x}{:02x}{:02x}".format(*mean),
            share=round(float(counts[b] / len(pixels)), 4)))
    return swatches


def dominant_colors(records: Sequence[ColorRecord], count: int) -> list[DominantColor]:
    """The frames' palettes merged: swatches of one quantisation bin are added up, their
    colours averaged by share."""
    weight: dict[int, float] = defaultdict(float)
    rgb_sum: dict[int, np.ndarray] = defaultdict(lambda: np.zeros(3))
    for r in records:
        for swatch in r.palette:
            weight[swatch.bin] += swatch.share
            rgb_sum[swatch.bin] += np.asarray(swatch.rgb, dtype=float) * swatch.share
    total = sum(weight.values()) or 1.0
    dominant = []
    for b, w in sorted(weight.items(), key=lambda bw: -bw[1])[:count]:
        r, g, bl = (round(c) for c in rgb_sum[b] / w)
        dominant.append(DominantColor(hex=f"#{r:02x}{g:02x}{bl:02x}", rgb=(r, g, bl),
                                      share=round(w / total, 4)))
    return dominant


def _means(records: Sequence[ColorRecord]) -> dict[str, float | None]:
    return {"brightness": mean_of(r.brightness for r in records),
            "saturation": mean_of(r.saturation for r in records),
            "colorfulness": mean_of(r.colorfulness for r in records),
            "warmth": mean_of(r.warmth for r in records)}


class ColorAnalyzer(Analyzer[ColorConfig, FramesInput, ColorRecord, ColorSummary]):
    key: ClassVar[str] = "color"
    group: ClassVar[Group] = Group.GPU_LIGHT
    version: ClassVar[str] = "1"
    batch_size: ClassVar[int] = 8
    inputs = FramePolicy()
    config_model = ColorConfig
    record_model = ColorRecord
    summary_model = ColorSummary
    headline = ("dominant_colors",)

    def process(self, batch: FramesInput) -> list[ColorRecord]:
        cfg = self.config
        records = []
        for frame in batch.frames:
            rgb = _downsample(frame.rgb, cfg.max_pixels)
            flt = rgb.astype(np.float32) / 255.0
            high, low = flt.max(axis=2), flt.min(axis=2)
            saturation = np.where(high > 0, (high - low) / np.maximum(high, 1e-6), 0.0)
            records.append(ColorRecord(
                t=frame.t,
                palette=palette(rgb, cfg.levels, cfg.palette_size),
                brightness=round(float(high.mean()), 4),
                saturation=round(float(saturation.mean()), 4),
                colorfulness=round(colorfulness(rgb), 3),
                warmth=round(float((flt[..., 0] - flt[..., 2]).mean()), 4),
            ))
        return records

    def summarize_with(self, records: Sequence[ColorRecord], video: VideoFacts
                       ) -> ColorSummary:
        shots = [ColorShot(start_s=start, end_s=end, frames=len(part),
                           dominant_colors=dominant_colors(part, 3), **_means(part))
                 for start, end, part in by_shot(records, video)]
        return ColorSummary(dominant_colors=dominant_colors(records, 5), shots=shots,
                            **_means(records))

    def report_metrics(self, summary: ColorSummary, records: Sequence[ColorRecord]
                       ) -> dict[str, object]:
        return {"dominant_colors": ([c.hex for c in summary.dominant_colors[:3]]
                                    if summary.dominant_colors else None)}
