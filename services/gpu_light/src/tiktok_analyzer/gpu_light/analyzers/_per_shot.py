"""Per-shot summaries: a video's records split by the shots the sampler found."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from tiktok_analyzer.shared.contracts.results import Record
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
