"""``color``: dominant palette, brightness, saturation, colourfulness and warmth per frame."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from tiktok_analyzer.shared.analyzers import Analyzer, AnalyzerConfig, FramesInput, register
from tiktok_analyzer.shared.events import Group


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


def palette(rgb: np.ndarray, levels: int, size: int) -> list[dict[str, Any]]:
    pixels = rgb.reshape(-1, 3)
    q = (pixels.astype(np.int32) * levels) // 256
    bins = (q[:, 0] * levels + q[:, 1]) * levels + q[:, 2]
    counts = np.bincount(bins, minlength=levels**3)
    swatches = []
    for b in np.argsort(counts)[::-1][:size]:
        if counts[b] == 0:
            break
        mean = pixels[bins == b].mean(axis=0).round().astype(int)
        swatches.append({
            "bin": int(b),
            "rgb": [int(c) for c in mean],
            "hex": "#{:02x}{:02x}{:02x}".format(*mean),
            "share": round(float(counts[b] / len(pixels)), 4),
        })
    return swatches


@register
class ColorAnalyzer(Analyzer):
    key: ClassVar[str] = "color"
    group: ClassVar[Group] = Group.GPU_LIGHT
    version: ClassVar[str] = "1"
    batch_size: ClassVar[int] = 8
    config_model = ColorConfig

    def process(self, batch: FramesInput) -> list[dict[str, Any]]:
        cfg: ColorConfig = self.config  # type: ignore[assignment]
        records = []
        for frame in batch.frames:
            rgb = _downsample(frame.rgb, cfg.max_pixels)
            flt = rgb.astype(np.float32) / 255.0
            high, low = flt.max(axis=2), flt.min(axis=2)
            saturation = np.where(high > 0, (high - low) / np.maximum(high, 1e-6), 0.0)
            records.append({
                "t": frame.t,
                "palette": palette(rgb, cfg.levels, cfg.palette_size),
                "brightness": round(float(high.mean()), 4),
                "saturation": round(float(saturation.mean()), 4),
                "colorfulness": round(colorfulness(rgb), 3),
                "warmth": round(float((flt[..., 0] - flt[..., 2]).mean()), 4),
            })
        return records
