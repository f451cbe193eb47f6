"""``pacing``: cuts and motion per window of the video (5 s by default), and the share of cuts
that land on a musical beat (within 80 ms).

A report analyzer: cuts from ``shots`` (else the sampler's shots), motion from ``motion``,
beats from ``audio_features``; what it cannot measure is null with the reason."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field

from tiktok_analyzer.aggregator.analyzers._timing import (
    CutsSource,
    MotionSample,
    cuts,
    mean_between,
    motion,
)
from tiktok_analyzer.audio.analyzers.audio_features import AudioFeaturesSummary
from tiktok_analyzer.shared.contracts.results import SpanRecord, StrictSummary
from tiktok_analyzer.shared.runtime.report_analyzers import (
    Derived,
    NotApplicable,
    ReportAnalyzer,
    ReportAnalyzerConfig,
    ReportInputs,
)


class PacingConfig(ReportAnalyzerConfig):
    kind: Literal["pacing"] = "pacing"
    window_s: float = Field(default=5.0, gt=0, description="Length of a window, seconds")
    beat_tolerance_s: float = Field(
        default=0.08, ge=0, description="A cut this close to a beat is on the beat")


class PacingWindow(SpanRecord):
    """One window, from ``t`` to ``end_t``."""

    cuts: int = Field(description="Shot changes inside the window")
    motion: float | None = Field(default=None, description="Mean motion intensity (motion)")
    beats: int | None = Field(default=None, description="Beats inside the window")
    cuts_on_beat: int | None = Field(default=None, description="Cuts within tolerance of a beat")


class PacingSummary(StrictSummary):
    window_s: float
    cuts_from: CutsSource
    cuts: int = Field(description="Shot changes in the whole video")
    cuts_per_window: float = Field(description="Mean cuts per window")
    busiest_window_s: float | None = Field(
        default=None, description="Start of the window with the most cuts (the first of equals)")
    motion_mean: float | None = Field(default=None, description="Mean motion intensity (motion)")
    beat_tolerance_s: float
    cuts_on_beat: int | None = None
    cuts_on_beat_share: float | None = Field(
        default=None, description="Share of cuts within the tolerance of a beat (audio_features)")
    unavailable: dict[str, str] = Field(
        default_factory=dict, description="Field -> why it is null (the analyzer it needs)")


def on_beat(cut: float, beats: Sequence[float], tolerance_s: float) -> bool:
    """Whether a beat lies within ``tolerance_s`` of ``cut``; ``beats`` sorted."""
    i = bisect.bisect_left(beats, cut)
    near = [beats[j] for j in (i - 1, i) if 0 <= j < len(beats)]
    return any(abs(b - cut) <= tolerance_s + 1e-9 for b in near)


class PacingAnalyzer(ReportAnalyzer[PacingConfig, PacingWindow, PacingSummary]):
    key: ClassVar[str] = "pacing"
    requires: ClassVar[tuple[str, ...]] = ("shots", "motion", "audio_features")
    config_model = PacingConfig
    record_model = PacingWindow
    summary_model = PacingSummary

    def analyze(self, inputs: ReportInputs) -> Derived[PacingWindow, PacingSummary]:
        found = cuts(inputs)
        if found is None:
            raise NotApplicable("needs a video stream")
        duration = inputs.video.duration_s
        if not duration:
            raise NotApplicable("the video's duration is unknown")
        width, tolerance = self.config.window_s, self.config.beat_tolerance_s
        unavailable: dict[str, str] = {}

        samples = motion(inputs)
        if samples.value is None:
            unavailable["motion_mean"] = samples.reason or ""
        audio = inputs.summary("audio_features", AudioFeaturesSummary)
        beats: list[float] | None = sorted(audio.value.beats) if audio.value else None
        if audio.value is None:
            unavailable["cuts_on_beat"] = audio.reason or ""
        elif not beats:
            unavailable["cuts_on_beat"] = "audio_features found no beats"
        elif not found.times:
            unavailable["cuts_on_beat"] = "no cuts to place on beats"
        if "cuts_on_beat" in unavailable:
            unavailable["cuts_on_beat_share"] = unavailable["cuts_on_beat"]

        windows = [self._window(i * width, min((i + 1) * width, duration), found.times,
                                samples.value, beats)
                   for i in range(math.ceil(duration / width))]
        hits = (sum(1 for c in found.times if on_beat(c, beats, tolerance))
                if beats and found.times else None)
        busiest = max(windows, key=lambda w: w.cuts) if windows else None
        summary = PacingSummary(
            window_s=width, cuts_from=found.source, cuts=len(found.times),
            cuts_per_window=round(len(found.times) / len(windows), 3) if windows else 0.0,
            busiest_window_s=busiest.t if busiest is not None and busiest.cuts else None,
            motion_mean=(mean_between(samples.value, 0.0, float("inf"))
                         if samples.value is not None else None),
            beat_tolerance_s=tolerance, cuts_on_beat=hits,
            cuts_on_beat_share=round(hits / len(found.times), 4) if hits is not None else None,
            unavailable=unavailable)
        return Derived(summary, windows)

    def _window(self, start: float, end: float, cut_times: Sequence[float],
                samples: Sequence[MotionSample] | None, beats: Sequence[float] | None
                ) -> PacingWindow:
        inside = [c for c in cut_times if start <= c < end]
        tolerance = self.config.beat_tolerance_s
        return PacingWindow(
            t=round(start, 3), end_t=round(end, 3), cuts=len(inside),
            motion=mean_between(samples, start, end) if samples is not None else None,
            beats=sum(1 for b in beats if start <= b < end) if beats is not None else None,
            cuts_on_beat=(sum(1 for c in inside if on_beat(c, beats, tolerance))
                          if beats else None))
