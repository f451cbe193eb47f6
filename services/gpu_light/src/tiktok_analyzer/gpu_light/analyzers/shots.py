"""``shots``: the shot list, frame-accurate: hard cuts, fades and dissolves, shot lengths, cuts
per minute.

The shots are the sampler's: its shot detector (``frame_sampler/shots.py``) sees every decoded
frame, decides hard cuts, fades and dissolves, and hands each shot over in the signals of the
gpu_light batch after its end is settled. The same list gives the manifest's
``shot_starts_s``, the heavy keyframes and the report's headline shot figures, so they cannot
disagree. This analyzer turns it into records (one per shot) and the video-level figures.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field

from tiktok_analyzer.shared.contracts.events import Group, TimeSpan
from tiktok_analyzer.shared.contracts.report import TimelineEvent
from tiktok_analyzer.shared.contracts.results import SpanRecord, StrictSummary
from tiktok_analyzer.shared.runtime.analyzers import (
    Analyzer,
    AnalyzerConfig,
    FramePolicy,
    FramesInput,
)

Opening = Literal["start", "cut", "dissolve", "fade"]


class ShotsConfig(AnalyzerConfig):
    kind: Literal["shots"] = "shots"


class ShotRecord(SpanRecord):
    """One shot, from its first frame (``t``) to the next shot's first frame or the end of the
    video (``end_t``)."""

    start_frame: int
    end_frame: int = Field(description="One past its last frame")
    length_s: float
    opening: Opening = Field(
        description="How it begins: the video's first frame, a hard cut, a dissolve, or a "
                    "fade through black")
    transition: TimeSpan = Field(description="The opening transition's first to last frame")
    fade_in: TimeSpan | None = Field(default=None, description="Opens with a fade from black")
    fade_out: TimeSpan | None = Field(default=None, description="Closes with a fade to black")


class ShotsSummary(StrictSummary):
    shots: int = 0
    shot_starts_s: list[float] = Field(
        default_factory=list, description="Start of every shot, 0.0 included")
    cuts_per_minute: float | None = Field(
        default=None, description="Shot changes (of any kind) per minute")
    average_shot_s: float | None = None
    median_shot_s: float | None = None
    shortest_shot_s: float | None = None
    longest_shot_s: float | None = None
    transitions: dict[str, int] = Field(
        default_factory=dict,
        description="Shot changes by kind (cut, dissolve, fade) and fades in or out that change "
                    "no shot (fade_in, fade_out: from or to black at the start or end, or after "
                    "a cut to black)")


class ShotsAnalyzer(Analyzer[ShotsConfig, FramesInput, ShotRecord, ShotsSummary]):
    key: ClassVar[str] = "shots"
    group: ClassVar[Group] = Group.GPU_LIGHT
    version: ClassVar[str] = "1"
    inputs = FramePolicy(signals=True, frames=False)
    config_model = ShotsConfig
    record_model = ShotRecord
    summary_model = ShotsSummary

    def process(self, batch: FramesInput) -> list[ShotRecord]:
        if batch.signals is None:
            return []
        return [ShotRecord(t=s.t, end_t=s.end_t, start_frame=s.start_index,
                           end_frame=s.end_index, length_s=round(s.end_t - s.t, 4),
                           opening=s.opening, transition=s.transition, fade_in=s.fade_in,
                           fade_out=s.fade_out)
                for s in batch.signals.shots]

    def summarize(self, records: Sequence[ShotRecord]) -> ShotsSummary:
        if not records:
            return ShotsSummary()
        lengths = [r.length_s for r in records]
        duration = records[-1].end_t - records[0].t
        kinds: Counter[str] = Counter(r.opening for r in records if r.opening != "start")
        for r in records:
            # A fade that is part of a shot change through black is counted as that change.
            if r.fade_in and r.opening != "fade":
                kinds["fade_in"] += 1
        for r, following in zip(records, [*records[1:], None], strict=True):
            if r.fade_out and not (following and following.opening == "fade"):
                kinds["fade_out"] += 1
        return ShotsSummary(
            shots=len(records), shot_starts_s=[r.t for r in records],
            cuts_per_minute=round((len(records) - 1) / duration * 60, 2) if duration > 0 else None,
            average_shot_s=round(statistics.fmean(lengths), 3),
            median_shot_s=round(statistics.median(lengths), 3),
            shortest_shot_s=round(min(lengths), 3), longest_shot_s=round(max(lengths), 3),
            transitions=dict(sorted(kinds.items())))

    def timeline(self, summary: ShotsSummary, records: Sequence[ShotRecord]
                 ) -> list[TimelineEvent]:
        events = [TimelineEvent(t=r.t, analyzer=self.key, label=r.opening)
                  for r in records if r.opening != "start"]
        events += [TimelineEvent(t=r.fade_in.t, analyzer=self.key, label="fade in")
                   for r in records if r.fade_in and r.opening != "fade"]
        events += [TimelineEvent(t=r.fade_out.t, analyzer=self.key, label="fade out")
                   for r in records if r.fade_out]
        return sorted(events, key=lambda e: e.t)
