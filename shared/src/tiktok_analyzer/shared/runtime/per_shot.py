"""Per-shot summaries: a video's records split by the shots the sampler found, and each
sampled frame weighted by the time it stands for (used by analyzers of both picture groups)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from tiktok_analyzer.shared.contracts.results import Record, frame_durations
from tiktok_analyzer.shared.runtime.analyzers import VideoFacts

RecordT = TypeVar("RecordT", bound=Record)


class ShotSpan(BaseModel):
    """One shot: its time range and how many sampled frames fell in it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_s: float
    end_s: float
    frames: int = Field(description="Sampled frames inside the shot (0: too short to sample)")


def by_shot(records: Sequence[RecordT], video: VideoFacts
            ) -> list[tuple[float, float, list[RecordT]]]:
    """(start, end, records) per shot, in order; empty when the shots are unknown."""
    starts = sorted(video.shot_starts_s)
    if not starts:
        return []
    last_t = max((r.t for r in records), default=starts[-1])
    end = max(video.duration_s or 0.0, last_t, starts[-1])
    bounds = [*starts, end + 1e-6]
    return [(round(a, 3), round(min(b, end), 3), [r for r in records if a <= r.t < b])
            for a, b in itertools.pairwise(bounds)]


def stand_for(times: Sequence[float], end: float | None) -> list[float]:
    """How long each sampled frame stands for: the gap to the next frame, and for the last one
    the time to ``end`` (a shot's end) or, without one, the median gap."""
    durations = frame_durations(times)
    if times and end is not None and end > times[-1]:
        durations[-1] = end - times[-1]
    # A frame alone in a zero-length span must still count.
    return [d if d > 0 else 1e-3 for d in durations]


def weighted_mean(values: Sequence[float | None], weights: Sequence[float]) -> float | None:
    """The mean of the values present, each weighted by its frame's time (4 decimals)."""
    pairs = [(v, w) for v, w in zip(values, weights, strict=True) if v is not None]
    total = sum(w for _, w in pairs)
    return round(sum(v * w for v, w in pairs) / total, 4) if total > 0 else None
