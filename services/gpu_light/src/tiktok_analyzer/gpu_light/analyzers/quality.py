"""``quality``: sharpness, noise, contrast, exposure clipping and black bars per frame."""

from __future__ import annotations

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
)


class QualityConfig(AnalyzerConfig):
    kind: Literal["quality"] = "quality"
    dark_level: int = Field(default=5, description="Luma at or below this counts as crushed")
    bright_level: int = Field(default=250, description="Luma at or above this counts as blown")
    bar_level: float = Field(default=20.0, description="Rows/columns darker than this are bars")


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def laplacian_variance(gray: np.ndarray) -> float:
    lap = (gray[1:-1, :-2] + gray[1:-1, 2:] + gray[:-2, 1:-1] + gray[2:, 1:-1]
           - 4 * gray[1:-1, 1:-1])
    return float(lap.var())


def noise_sigma(gray: np.ndarray) -> float:
    """Immerkaer (1996) fast noise variance estimate."""
    g = gray
    conv = (g[:-2, :-2] - 2 * g[:-2, 1:-1] + g[:-2, 2:]
            - 2 * g[1:-1, :-2] + 4 * g[1:-1, 1:-1] - 2 * g[1:-1, 2:]
            + g[2:, :-2] - 2 * g[2:, 1:-1] + g[2:, 2:])
    h, w = gray.shape
    return float(np.sqrt(np.pi / 2) * np.abs(conv).sum() / (6 * (w - 2) * (h - 2)))


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


class QualityRecord(StrictRecord):
    width: int
    height: int
    sharpness: float = Field(description="Variance of the Laplacian of luma")
    noise: float = Field(description="Immerkaer noise sigma, luma levels")
    contrast: float = Field(description="Luma standard deviation, 0..1")
    clipped_dark: float = Field(description="Share of crushed pixels")
    clipped_bright: float = Field(description="Share of blown pixels")
    black_bars: BlackBars


class QualitySummary(StrictSummary):
    sharpness_mean: float | None = None
    sharpness_min: float | None = None
    noise_mean: float | None = None
    contrast_mean: float | None = None
    clipped_dark_mean: float | None = None
    clipped_bright_mean: float | None = None
    black_bars: BlackBars | None = Field(default=None, description="On the middle frame")


class QualityAnalyzer(Analyzer[QualityConfig, FramesInput, QualityRecord, QualitySummary]):
    key: ClassVar[str] = "quality"
    group: ClassVar[Group] = Group.GPU_LIGHT
    version: ClassVar[str] = "1"
    batch_size: ClassVar[int] = 8
    inputs = FramePolicy()
    config_model = QualityConfig
    record_model = QualityRecord
    summary_model = QualitySummary
    headline = ("sharpness_mean",)

    def process(self, batch: FramesInput) -> list[QualityRecord]:
        cfg = self.config
        records = []
        for frame in batch.frames:
            gray = luma(frame.rgb)
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
            ))
        return records

    def summarize(self, records: Sequence[QualityRecord]) -> QualitySummary:
        return QualitySummary(
            sharpness_mean=mean_of(r.sharpness for r in records),
            sharpness_min=round(min(r.sharpness for r in records), 4) if records else None,
            noise_mean=mean_of(r.noise for r in records),
            contrast_mean=mean_of(r.contrast for r in records),
            clipped_dark_mean=mean_of(r.clipped_dark for r in records),
            clipped_bright_mean=mean_of(r.clipped_bright for r in records),
            black_bars=records[len(records) // 2].black_bars if records else None,
        )
