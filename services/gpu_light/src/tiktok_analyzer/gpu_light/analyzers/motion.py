"""``motion``: motion intensity per second (the pacing curve), from every decoded frame.

The intensity of a frame is the mean absolute difference of its luma thumbnail (the sampler's
signals, 64 cells on the long side) from the previous frame's, as a share of full scale and
scaled to a 1/30 s frame interval so that 25, 30 and 60 fps videos read alike. Frames that
start a shot with a hard cut are left out: the change there is the cut, which ``shots``
counts. A second's intensity is the mean over its frames.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from tiktok_analyzer.gpu_light.analyzers._frame_pairs import pairs, window_start
from tiktok_analyzer.shared.contracts.events import Group
from tiktok_analyzer.shared.contracts.report import TimelineEvent
from tiktok_analyzer.shared.contracts.results import StrictRecord, StrictSummary
from tiktok_analyzer.shared.runtime.analyzers import (
    Analyzer,
    AnalyzerConfig,
    FramePolicy,
    FramesInput,
)

_REFERENCE_DT = 1 / 30


class MotionConfig(AnalyzerConfig):
    kind: Literal["motion"] = "motion"


class MotionRecord(StrictRecord):
    """One second of the video (``t``: its start)."""

    intensity: float = Field(
        ge=0, description="Mean absolute luma change between consecutive frames, 0..1 of full "
                          "scale per 1/30 s, hard cuts left out")
    peak: float = Field(ge=0, description="The largest frame-to-frame change in the second")
    frames: int = Field(ge=1, description="Frames measured in the second")


class MotionSummary(StrictSummary):
    mean_intensity: float | None = Field(default=None, description="Mean over the seconds")
    peak_intensity: float | None = Field(default=None, description="The busiest second's")
    peak_t: float | None = Field(default=None, description="Start of the busiest second")
    variability: float | None = Field(
        default=None, description="Standard deviation of the seconds' intensities over their "
                                  "mean: how much the pace changes")


class MotionAnalyzer(Analyzer[MotionConfig, FramesInput, MotionRecord, MotionSummary]):
    key: ClassVar[str] = "motion"
    group: ClassVar[Group] = Group.GPU_LIGHT
    version: ClassVar[str] = "1"
    inputs = FramePolicy(signals=True, frames=False)
    config_model = MotionConfig
    record_model = MotionRecord
    summary_model = MotionSummary

    def process(self, batch: FramesInput) -> list[MotionRecord]:
        if batch.signals is None:
            return []
        changes: dict[float, list[float]] = defaultdict(list)
        for pair in pairs(batch.signals):
            diff = np.abs(pair.after.astype(np.int16) - pair.before.astype(np.int16))
            change = float(diff.mean()) / 255 * (_REFERENCE_DT / pair.dt)
            changes[window_start(pair.t, 1.0)].append(change)
        return [MotionRecord(t=second, intensity=round(statistics.fmean(values), 5),
                             peak=round(max(values), 5), frames=len(values))
                for second, values in sorted(changes.items())]

    def summarize(self, records: Sequence[MotionRecord]) -> MotionSummary:
        if not records:
            return MotionSummary()
        values = [r.intensity for r in records]
        mean = statistics.fmean(values)
        busiest = max(records, key=lambda r: r.intensity)
        return MotionSummary(
            mean_intensity=round(mean, 5), peak_intensity=busiest.intensity, peak_t=busiest.t,
            variability=round(statistics.pstdev(values) / mean, 3) if mean > 0 else None)

    def timeline(self, summary: MotionSummary, records: Sequence[MotionRecord]
                 ) -> list[TimelineEvent]:
        if summary.peak_t is None or not summary.peak_intensity:
            return []
        return [TimelineEvent(t=summary.peak_t, analyzer=self.key, label="motion peak")]
