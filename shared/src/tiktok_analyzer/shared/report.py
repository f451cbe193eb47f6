"""The final report: one per video, the contract with downstream consumers (schema v1)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from tiktok_analyzer.shared.events import (
    AnalyzerStatus,
    Group,
    MediaInfo,
    Model,
    ObjectRef,
    UpstreamInfo,
    utc_now,
)


class ReportStatus(StrEnum):
    COMPLETE = "complete"
    """Every expected analyzer reported on every batch (some may be ``skipped`` or ``failed``)."""
    REJECTED = "rejected"
    """The media gate refused the input; ``reason`` says why and no analyzer ran."""


class AnalyzerSection(Model):
    analyzer: str
    group: Group
    version: str | None
    model_id: str | None = None
    model_revision: str | None = None
    status: AnalyzerStatus
    reason: str | None = None
    batches: int = Field(description="Batches this analyzer reported on")
    elapsed_s: float = Field(description="Inference time summed over batches")
    summary: dict[str, Any] = Field(default_factory=dict, description="Video-level result")
    records: list[dict[str, Any]] = Field(
        default_factory=list, description="Time-stamped per-frame or per-chunk results (key t)"
    )


class TimelineEvent(Model):
    t: float = Field(description="Seconds from the start of the video")
    analyzer: str
    label: str


class FinalReport(Model):
    schema_version: Literal[1] = 1
    kind: Literal["report.final"] = "report.final"
    video_id: str
    status: ReportStatus
    reason: str | None = None
    source: ObjectRef
    upstream: UpstreamInfo | None = Field(
        default=None, description="Platform metadata, when a scraper announced the video")
    media: MediaInfo | None = None
    warnings: list[str] = Field(default_factory=list)
    analyzers: dict[str, AnalyzerSection] = Field(default_factory=dict)
    timeline: list[TimelineEvent] = Field(default_factory=list)
    summary: dict[str, Any] = Field(
        default_factory=dict, description="Short-form headline metrics from whichever analyzers ran"
    )
    created_at: datetime = Field(default_factory=utc_now)
