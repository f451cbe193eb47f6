"""Where a video is in the pipeline, for the ingest HTTP API's status endpoint.

Each stage writes its own small JSON document, ``<prefix>/<video_id>/<writer>.json`` in the work
bucket, so writers never race each other; a reader merges the documents. Progress writes are
throttled by the writers (see ``ThrottledStatus``): status is a convenience for people, never
part of the exactly-one-report path, so a lost write is harmless and a failed write is only
logged.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from enum import StrEnum

from pydantic import Field

from tiktok_analyzer.shared.contracts.events import Model, utc_now
from tiktok_analyzer.shared.errors import PayloadError
from tiktok_analyzer.shared.infra.blobs import BlobStore

log = logging.getLogger(__name__)


class Stage(StrEnum):
    """Pipeline stages in the order a video passes them."""

    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    SAMPLING = "sampling"
    SAMPLED = "sampled"
    ANALYZING = "analyzing"
    REPORTED = "reported"


_ORDER = {stage: i for i, stage in enumerate(Stage)}
WRITERS = ("ingest", "frame_sampler", "aggregator")


class StageRecord(Model):
    writer: str = Field(description="The service that wrote this record")
    stage: Stage
    detail: str | None = None
    progress: float | None = Field(default=None, ge=0, le=1, description="Share done, 0..1")
    counts: dict[str, int] = Field(default_factory=dict)
    updated_at: datetime = Field(default_factory=utc_now)


class VideoStatus(Model):
    video_id: str
    stage: Stage = Field(description="The furthest stage any writer has recorded")
    done: bool = Field(description="True once the final report exists (or the video was rejected)")
    stages: dict[str, StageRecord] = Field(description="The latest record of each writer")


class StatusBoard:
    def __init__(self, store: BlobStore, bucket: str, prefix: str = "status") -> None:
        self.store = store
        self.bucket = bucket
        self.prefix = prefix

    def _key(self, video_id: str, writer: str) -> str:
        return f"{self.prefix}/{video_id}/{writer}.json"

    def record(self, video_id: str, record: StageRecord) -> None:
        try:
            self.store.put(self.bucket, self._key(video_id, record.writer),
                           record.model_dump_json().encode(), "application/json")
        except Exception as exc:  # status must never break the pipeline
            log.warning("status write for %s failed: %s", video_id, exc)

    def read(self, video_id: str) -> VideoStatus | None:
        stages: dict[str, StageRecord] = {}
        for writer in WRITERS:
            try:
                raw = self.store.get(self.bucket, self._key(video_id, writer))
            except PayloadError:
                continue
            stages[writer] = StageRecord.model_validate_json(raw)
        if not stages:
            return None
        furthest = max((r.stage for r in stages.values()), key=_ORDER.__getitem__)
        return VideoStatus(video_id=video_id, stage=furthest,
                           done=furthest in (Stage.REPORTED, Stage.REJECTED), stages=stages)


class ThrottledStatus:
    """One writer's progress for one video: writes at most every ``interval_s`` seconds, except
    for stage changes, which are always written."""

    def __init__(self, board: StatusBoard | None, video_id: str, writer: str,
                 interval_s: float = 2.0) -> None:
        self.board = board
        self.video_id = video_id
        self.writer = writer
        self.interval_s = interval_s
        self._last_stage: Stage | None = None
        self._last_write = 0.0

    def update(self, stage: Stage, *, detail: str | None = None, progress: float | None = None,
               counts: dict[str, int] | None = None) -> None:
        if self.board is None:
            return
        now = time.monotonic()
        if stage == self._last_stage and now - self._last_write < self.interval_s:
            return
        self._last_stage, self._last_write = stage, now
        if progress is not None:
            progress = min(1.0, max(0.0, progress))
        self.board.record(self.video_id, StageRecord(
            writer=self.writer, stage=stage, detail=detail, progress=progress,
            counts=counts or {}))
