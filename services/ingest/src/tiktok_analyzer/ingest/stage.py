"""The ingest stage: one arrival of a stored object in, the events to publish out.

Transport-free: ``ingest_arrival`` decides, the service publishes what it returns and then
writes the arrival record (``IngestResult.record``), and only then commits its offset.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tiktok_analyzer.ingest.gate import gate_file
from tiktok_analyzer.ingest.identity import (
    arrival_key,
    file_sha256,
    unreadable_video_id,
    video_id_for_digest,
    video_id_for_file,
)
from tiktok_analyzer.shared.contracts.events import (
    ObjectRef,
    UpstreamInfo,
    VideoAccepted,
    VideoMetadata,
    VideoRejected,
)
from tiktok_analyzer.shared.errors import MediaRejected, PayloadError
from tiktok_analyzer.shared.infra.blobs import BlobStore
from tiktok_analyzer.shared.infra.ledger import ArrivalRecord, Ledger, Via
from tiktok_analyzer.shared.settings import GateSettings

log = logging.getLogger(__name__)

IngestEvent = VideoAccepted | VideoRejected | VideoMetadata


@dataclass(frozen=True)
class Arrival:
    """One way a stored object reached ingest."""

    source: ObjectRef
    via: Via
    upstream: UpstreamInfo | None = None


@dataclass
class IngestResult:
    video_id: str
    outcome: Literal["accepted", "rejected", "duplicate", "already handled"]
    events: list[IngestEvent] = field(default_factory=list)
    record: ArrivalRecord | None = None
    detail: str = ""


def gate_local_file(path: Path, ref: ObjectRef, video_id: str | None = None,
                    gate: GateSettings | None = None) -> VideoAccepted | VideoRejected:
    video_id = video_id or video_id_for_file(path)
    try:
        media, warnings = gate_file(path, gate)
    except MediaRejected as exc:
        return VideoRejected(video_id=video_id, source=ref, reason=str(exc))
    return VideoAccepted(video_id=video_id, source=ref, media=media, warnings=warnings)


def _metadata(video_id: str, arrival: Arrival) -> list[IngestEvent]:
    return [VideoMetadata(video_id=video_id, upstream=arrival.upstream)] if arrival.upstream else []


def ingest_arrival(arrival: Arrival, store: BlobStore, ledger: Ledger,
                   gate: GateSettings | None = None) -> IngestResult:
    """Decide what one arrival means. Every outcome that is not a repeat publishes exactly one
    accepted or rejected event, so every new video ends in exactly one report."""
    gate = gate or GateSettings()
    source = arrival.source
    if source.etag is None:
        try:  # scraper events may name only bucket and key
            source = store.stat(source.bucket, source.key)
        except PayloadError as exc:
            return _unreadable(arrival, source, str(exc))
    key = arrival_key(source)
    earlier = ledger.arrival(key)
    if earlier is not None:
        return IngestResult(earlier.video_id, "already handled",
                            _metadata(earlier.video_id, arrival),
                            detail=f"{earlier.via} arrival already gave {earlier.outcome}")
    if source.size is not None and source.size > gate.max_file_bytes:
        # Too big to download just to hash it: identified by where it is stored instead.
        video_id = unreadable_video_id(source)
        reason = (f"file is {source.size / 1e6:.1f} MB, above the limit of "
                  f"{gate.max_file_bytes / 1e6:.1f} MB")
        return _outcome(arrival, source, key, VideoRejected(video_id=video_id, source=source,
                                                             reason=reason))
    with tempfile.TemporaryDirectory(prefix="ingest-") as tmp:
        local = Path(tmp) / "input"
        try:
            store.download(source.bucket, source.key, local)
            video_id = video_id_for_digest(file_sha256(local))
        except PayloadError as exc:
            return _unreadable(arrival, source, str(exc))
        first = ledger.first_arrival_of(video_id)
        if first is not None and first.arrival_key != key:
            record = ArrivalRecord(arrival_key=key, source=source, via=arrival.via,
                                   video_id=video_id, outcome="duplicate")
            return IngestResult(video_id, "duplicate", _metadata(video_id, arrival), record,
                                detail=f"same bytes as {first.source.bucket}/{first.source.key}")
        return _outcome(arrival, source, key, gate_local_file(local, source, video_id, gate))


def _unreadable(arrival: Arrival, source: ObjectRef, reason: str) -> IngestResult:
    """An object that cannot be read still gets its one (rejected) report."""
    rejected = VideoRejected(video_id=unreadable_video_id(source), source=source, reason=reason)
    return _outcome(arrival, source, arrival_key(source), rejected)


def _outcome(arrival: Arrival, source: ObjectRef, key: str,
             event: VideoAccepted | VideoRejected) -> IngestResult:
    outcome: Literal["accepted", "rejected"] = (
        "accepted" if isinstance(event, VideoAccepted) else "rejected")
    record = ArrivalRecord(arrival_key=key, source=source, via=arrival.via,
                           video_id=event.video_id, outcome=outcome)
    detail = event.reason if isinstance(event, VideoRejected) else "; ".join(event.warnings)
    # Metadata first: it shares the video's partition with a rejection, so it is joined first.
    return IngestResult(event.video_id, outcome, [*_metadata(event.video_id, arrival), event],
                        record, detail)
