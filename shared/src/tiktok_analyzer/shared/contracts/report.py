"""The final report: one per video, the contract with downstream consumers (schema v1)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field, SerializeAsAny

from tiktok_analyzer.shared.contracts.events import (
    AnalyzerStatus,
    Group,
    MediaInfo,
    Model,
    ObjectRef,
    UpstreamInfo,
    utc_now,
)
from tiktok_analyzer.shared.contracts.results import Record, Summary

REPORT_SUFFIX = ".report.json"
"""A report stored next to its video in the upload bucket is ``<video key>`` + this suffix;
ingest never treats such an object as a video."""


class ReportStatus(StrEnum):
    COMPLETE = "complete"
    """Every expected analyzer reported on every batch (some may be ``skipped`` or ``failed``)."""
    PARTIAL = "partial"
    """The deadline passed before every result arrived; ``missing`` lists who had not answered.
    Results that complete it later produce a new ``report_version`` with status complete."""
    REJECTED = "rejected"
    """The media gate refused the input; ``reason`` says why and no analyzer ran."""


class AnalyzerSection(Model):
    analyzer: str
    group: Group | Literal["aggregator"] = Field(
        description="The service that ran it; `aggregator` for report analyzers, derived from "
                    "other sections (hook, pacing)")
    version: str | None
    model_id: str | None = None
    model_revision: str | None = None
    status: AnalyzerStatus
    reason: str | None = None
    batches: int = Field(description="Batches this analyzer reported on")
    elapsed_s: float = Field(description="Inference time summed over batches")
    summary: SerializeAsAny[Summary] = Field(
        default_factory=Summary,
        description="Video-level result: the analyzer's summary type "
                    "(docs/schemas/analyzers/<key>.json)")
    records: list[SerializeAsAny[Record]] = Field(
        default_factory=list,
        description="Time-stamped per-frame or per-chunk results (key t): the analyzer's record "
                    "type (docs/schemas/analyzers/<key>.json)")


class TimelineEvent(Model):
    t: float = Field(description="Seconds from the start of the video")
    analyzer: str
    label: str


class ReportSummary(Model):
    """Short-form headline metrics, filled from whichever analyzers ran. A metric whose analyzer
    did not run (or failed) is null, and ``unavailable`` says which analyzer it needs."""

    duration_s: float | None = None
    shots: int | None = Field(default=None, description="Number of shots (sampler)")
    cuts_per_minute: float | None = Field(default=None, description="Shot changes per minute")
    average_shot_s: float | None = None
    speech_ratio: float | None = Field(default=None, description="Share of time with speech")
    text_screen_share: float | None = Field(
        default=None, description="Share of time with on-screen text")
    face_screen_time_s: float | None = Field(default=None, description="Seconds with a face")
    dominant_colors: list[str] | None = Field(default=None, description="Hex, most common first")
    top_objects: list[str] | None = Field(default=None, description="By screen time")
    transcript_text: str | None = None
    tempo_bpm: float | None = None
    loudness_lufs: float | None = None
    sharpness_mean: float | None = None
    unavailable: dict[str, str] = Field(
        default_factory=dict, description="Metric -> why it is null (the analyzer it needs)")


REPORT_SCHEMA_VERSION: Literal[2] = 2


class FinalReport(Model):
    """One report per video (per report version). Schema version 2 (this one): each analyzer
    section's summary and records have the analyzer's own types (docs/schemas/analyzers), the
    report analyzers (``hook``, ``pacing``) are sections of their own, and the summary block
    lost its ``hook`` (now the ``hook`` section). Version 1 reports stay readable as JSON;
    consumers that validate should accept both (``schema_version``)."""

    schema_version: Literal[2] = REPORT_SCHEMA_VERSION
    kind: Literal["report.final"] = "report.final"
    video_id: str
    report_version: int = Field(
        default=1, ge=1, description="1 for a video's first report; a partial report can be "
        "followed by version 2 when late results complete it (the highest version is current)")
    status: ReportStatus
    reason: str | None = None
    missing: list[str] = Field(
        default_factory=list,
        description="Analyzers (or the stage 'frame_sampler') that had not answered by the "
                    "deadline; empty unless status is partial")
    failed: list[str] = Field(default_factory=list, description="Analyzers whose status is failed")
    source: ObjectRef
    upstream: UpstreamInfo | None = Field(
        default=None, description="Platform metadata, when a scraper announced the video")
    media: MediaInfo | None = None
    warnings: list[str] = Field(default_factory=list)
    analyzers: dict[str, AnalyzerSection] = Field(default_factory=dict)
    timeline: list[TimelineEvent] = Field(default_factory=list)
    summary: ReportSummary | None = Field(
        default=None, description="Short-form headline metrics (null for a rejected video)")
    created_at: datetime = Field(default_factory=utc_now)
