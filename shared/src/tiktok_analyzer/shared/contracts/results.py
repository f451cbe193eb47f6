"""Canonical record and summary types that analyzers return, one per kind of output.

Every record is stamped in seconds from the start of the video (``t``; spans also ``end_t``),
never relative to a batch or an audio chunk, so the aggregator can lay all analyzers on one
timeline. An analyzer names its record type in ``record_model``; the runner validates every
record against it, so a malformed record becomes a ``failed`` run instead of a broken report.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Sequence
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Record(BaseModel):
    """The least every record carries. Extra fields are allowed here so that analyzers that
    have not declared a record type of their own still get their timestamps checked."""

    model_config = ConfigDict(extra="allow", frozen=True)

    t: float = Field(ge=0, description="Seconds from the start of the video")


class StrictRecord(Record):
    """Base of declared record types: unknown fields are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SpanRecord(StrictRecord):
    """Something that lasts: from ``t`` to ``end_t`` (seconds from the start of the video)."""

    end_t: float = Field(ge=0, description="Seconds from the start of the video")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end_t < self.t:
            raise ValueError(f"end_t {self.end_t} is before t {self.t}")
        return self

    @property
    def duration_s(self) -> float:
        return self.end_t - self.t


class Summary(BaseModel):
    """Base of every analyzer's video-level summary. As with ``Record``, extra fields are
    kept so that a report read back without the analyzer's plugin keeps its summary whole;
    declared summary types forbid unknown fields (``StrictSummary``)."""

    model_config = ConfigDict(extra="allow", frozen=True)


class StrictSummary(Summary):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LabelScore(BaseModel):
    """A class label and the model's score for it (0..1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str
    score: float = Field(ge=0, le=1)


class Detection(BaseModel):
    """A box in normalised image coordinates (x1, y1, x2, y2 in 0..1 of the frame)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str
    class_id: int | None = None
    confidence: float = Field(ge=0, le=1)
    box: tuple[float, float, float, float]


class FrameDetections(StrictRecord):
    """The detections on one sampled frame."""

    detections: list[Detection]


# --- helpers the summaries share ----------------------------------------------------------------


def mean_of(values: Iterable[float | None], digits: int = 4) -> float | None:
    """The mean of the values that are not None, rounded; None when there are none."""
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), digits) if present else None


def frame_durations(times: Sequence[float]) -> list[float]:
    """How long each sampled frame stands for: the gap to the next sample (the last one gets
    the median gap)."""
    if not times:
        return []
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return [*gaps, statistics.median(gaps) if gaps else 0.0]
