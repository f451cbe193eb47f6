"""Ingest's decisions on one arrival, against a folder-backed blob store (fast tier; the same
paths run through Kafka and MinIO in test_ingest_kafka.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tiktok_analyzer.ingest.identity import video_id_for_file
from tiktok_analyzer.ingest.notifications import MinioNotification
from tiktok_analyzer.ingest.reconciler import as_notification
from tiktok_analyzer.ingest.stage import Arrival, ingest_arrival
from tiktok_analyzer.shared.contracts.events import (
    ObjectRef,
    UpstreamInfo,
    VideoAccepted,
    VideoMetadata,
    VideoRejected,
)
from tiktok_analyzer.shared.infra.blobs import LocalBlobStore
from tiktok_analyzer.shared.infra.ledger import Ledger
from tiktok_analyzer.shared.settings import GateSettings

UPSTREAM = UpstreamInfo(platform_video_id="7301", author="@cat", hashtags=["dance"])


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "s3")


@pytest.fixture
def ledger(store: LocalBlobStore) -> Ledger:
    return Ledger(store, "work")


def put(store: LocalBlobStore, clip: Path, key: str, etag: str) -> ObjectRef:
    target = store.root / "uploads" / key
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(clip, target)
    return ObjectRef(bucket="uploads", key=key, etag=etag, size=clip.stat().st_size)


def handle(arrival: Arrival, store: LocalBlobStore, ledger: Ledger,
           gate: GateSettings | None = None):
    result = ingest_arrival(arrival, store, ledger, gate)
    if result.record is not None:  # what the service does after publishing
        ledger.record_arrival(result.record)
    return result


def test_video_id_is_the_content_hash_and_a_repeat_is_answered_from_the_ledger(
        red_clip: Path, store: LocalBlobStore, ledger: Ledger) -> None:
    ref = put(store, red_clip, "a/clip.mp4", "etag-1")
    first = handle(Arrival(ref, "minio"), store, ledger)
    assert first.outcome == "accepted"
    assert first.video_id == video_id_for_file(red_clip)
    assert [type(e) for e in first.events] == [VideoAccepted]

    again = handle(Arrival(ref, "minio"), store, ledger)
    assert again.outcome == "already handled" and again.events == []
    assert again.video_id == first.video_id


def test_identical_bytes_under_another_key_are_a_duplicate_not_a_second_video(
        red_clip: Path, store: LocalBlobStore, ledger: Ledger) -> None:
    handle(Arrival(put(store, red_clip, "a/clip.mp4", "etag-1"), "minio"), store, ledger)
    second = handle(Arrival(put(store, red_clip, "b/copy.mp4", "etag-1"), "minio"), store, ledger)
    assert second.outcome == "duplicate"
    assert second.events == []
    assert second.record is not None and second.record.outcome == "duplicate"


def test_a_scraper_event_after_the_notification_only_adds_its_metadata(
        red_clip: Path, store: LocalBlobStore, ledger: Ledger) -> None:
    ref = put(store, red_clip, "a/clip.mp4", "etag-1")
    first = handle(Arrival(ref, "minio"), store, ledger)
    scraped = handle(Arrival(ref, "scraper", UPSTREAM), store, ledger)
    assert scraped.outcome == "already handled"
    assert scraped.events == [VideoMetadata(video_id=first.video_id, upstream=UPSTREAM)]


def test_a_scraper_arrival_sends_its_metadata_ahead_of_the_outcome(
        red_clip: Path, store: LocalBlobStore, ledger: Ledger) -> None:
    ref = put(store, red_clip, "a/clip.mp4", "etag-1")
    result = handle(Arrival(ref, "scraper", UPSTREAM), store, ledger)
    assert [type(e) for e in result.events] == [VideoMetadata, VideoAccepted]


def test_a_missing_object_is_rejected_not_dropped(store: LocalBlobStore, ledger: Ledger) -> None:
    ref = ObjectRef(bucket="uploads", key="gone.mp4", etag="e", size=10)
    result = handle(Arrival(ref, "minio"), store, ledger)
    assert result.outcome == "rejected"
    assert result.video_id.startswith("x")
    (event,) = result.events
    assert isinstance(event, VideoRejected) and "gone.mp4" in event.reason


def test_an_oversize_object_is_rejected_before_it_is_downloaded(
        red_clip: Path, store: LocalBlobStore, ledger: Ledger) -> None:
    ref = put(store, red_clip, "big.mp4", "etag-1").model_copy(update={"size": 5 * 10**9})
    result = handle(Arrival(ref, "minio"), store, ledger, GateSettings(max_file_bytes=10**9))
    (event,) = result.events
    assert isinstance(event, VideoRejected)
    assert "above the limit" in event.reason


def test_the_reconcilers_announcement_parses_as_a_minio_notification() -> None:
    ref = ObjectRef(bucket="uploads", key="dir/a clip+1.mp4", version_id=None, etag="abc",
                    size=12)
    note = MinioNotification.model_validate(as_notification(ref))
    (arrival,) = note.arrivals()
    assert arrival.via == "reconciler"
    assert arrival.source == ref


def test_a_report_stored_next_to_its_video_is_not_taken_for_an_upload() -> None:
    ref = ObjectRef(bucket="uploads", key="dir/clip.mp4.report.json", etag="abc", size=12)
    assert MinioNotification.model_validate(as_notification(ref)).arrivals() == []
