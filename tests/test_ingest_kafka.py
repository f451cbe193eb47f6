"""Two ways in, one identity, nothing missed: through the real Kafka, MinIO and services."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tiktok_analyzer.cli import stack as stack_module
from tiktok_analyzer.cli.services import ServiceSet
from tiktok_analyzer.cli.submit import read_reports, upload
from tiktok_analyzer.ingest.identity import arrival_key, video_id_for_file
from tiktok_analyzer.shared.contracts.events import ObjectRef, ScrapedVideo, UpstreamInfo
from tiktok_analyzer.shared.contracts.topics import SCRAPED
from tiktok_analyzer.shared.infra.blobs import MinioBlobStore
from tiktok_analyzer.shared.infra.kafka import encode
from tiktok_analyzer.shared.infra.ledger import Ledger
from tiktok_analyzer.shared.settings import IngestSettings, KafkaSettings, StorageSettings

pytestmark = pytest.mark.infra


def fresh_clip(video_factory: Callable[..., Path]) -> Path:
    """A clip no earlier run has uploaded (its colour is random), so its video ID is new."""
    color = tuple(random.randrange(40, 216) for _ in range(3))
    return video_factory(duration_s=2.0, width=180, height=320, color=color, bpm=120)


async def send_scraped(event: ScrapedVideo) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=KafkaSettings().bootstrap_servers, acks="all")
    await producer.start()
    try:
        key = f"{event.object.bucket}/{event.object.key}".encode()
        await producer.send_and_wait(SCRAPED.name, encode(event), key=key)
    finally:
        await producer.stop()


def wait_for_arrival(ledger: Ledger, ref: ObjectRef, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (record := ledger.arrival(arrival_key(ref))) is not None:
            return record.outcome
        time.sleep(0.5)
    raise AssertionError(f"ingest never recorded {ref.key}")


def test_notification_and_scraper_event_for_one_object_give_one_report_with_metadata(
        services: ServiceSet, video_factory: Callable[..., Path]) -> None:
    clip = fresh_clip(video_factory)
    ref = upload(clip, key=f"scraped/{uuid.uuid4().hex[:8]}.mp4")
    upstream = UpstreamInfo(platform_video_id=uuid.uuid4().hex[:12], author="@tester",
                            caption="two ways in #test", hashtags=["test"])
    asyncio.run(send_scraped(ScrapedVideo(object=ObjectRef(bucket=ref.bucket, key=ref.key),
                                          upstream=upstream)))
    video_id = video_id_for_file(clip)
    found = asyncio.run(read_reports({video_id}, timeout=120, settle_s=6))
    assert len(found[video_id]) == 1, f"want one report, got {len(found[video_id])}"
    report = found[video_id][0]
    assert report.status == "complete"
    assert report.upstream == upstream


def test_an_identical_reupload_is_the_same_video_and_adds_no_report(
        services: ServiceSet, video_factory: Callable[..., Path]) -> None:
    clip = fresh_clip(video_factory)
    upload(clip, key=f"first/{uuid.uuid4().hex[:8]}.mp4")
    video_id = video_id_for_file(clip)
    assert asyncio.run(read_reports({video_id}, timeout=120))[video_id]

    again = upload(clip, key=f"again/{uuid.uuid4().hex[:8]}.mp4")
    store = MinioBlobStore.from_settings()
    ledger = Ledger(store, StorageSettings().work_bucket)
    assert wait_for_arrival(ledger, again) == "duplicate"
    found = asyncio.run(read_reports({video_id}, timeout=30, settle_s=5))
    assert len(found[video_id]) == 1


def test_an_upload_whose_notification_was_lost_is_found_by_the_reconciler(
        services: ServiceSet, video_factory: Callable[..., Path]) -> None:
    storage = StorageSettings()
    store = MinioBlobStore.from_settings()
    clip = fresh_clip(video_factory)
    store.client.delete_bucket_notification(storage.upload_bucket)
    try:
        ref = upload(clip, key=f"lost/{uuid.uuid4().hex[:8]}.mp4")
    finally:
        stack_module.configure_minio(storage)
    video_id = video_id_for_file(clip)
    assert not asyncio.run(read_reports({video_id}, timeout=8))[video_id], \
        "the notification was meant to be lost"

    done = subprocess.run([sys.executable, "-m", "tiktok_analyzer.cli.main", "reconcile",
                           "--grace", "0"], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert f"re-announced {ref.bucket}/{ref.key}" in done.stdout
    found = asyncio.run(read_reports({video_id}, timeout=120, settle_s=5))
    assert len(found[video_id]) == 1
    ledger = Ledger(store, storage.work_bucket)
    record = ledger.arrival(arrival_key(ref))
    assert record is not None and record.via == "reconciler"


def test_http_upload_status_and_report_through_the_running_services(
        services: ServiceSet, video_factory: Callable[..., Path]) -> None:
    import httpx

    base = f"http://{IngestSettings().http_host}:{IngestSettings().http_port}"
    clip = fresh_clip(video_factory)
    with httpx.Client(base_url=base, timeout=30) as http:
        assert http.get("/healthz/live").status_code == 200
        ready = http.get("/healthz/ready")
        assert ready.status_code == 200, ready.text
        submitted = http.post("/v1/videos", params={"filename": "api clip.mp4"},
                              content=clip.read_bytes())
        assert submitted.status_code == 202, submitted.text
        video_id = submitted.json()["video_id"]
        assert video_id == video_id_for_file(clip)

        seen_stages: set[str] = set()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = http.get(f"/v1/videos/{video_id}")
            if status.status_code == 200:
                body = status.json()
                seen_stages.add(body["stage"])
                if body["done"]:
                    break
            time.sleep(0.3)
        else:
            raise AssertionError(f"not done after 120 s; stages seen: {seen_stages}")
        assert body["stage"] == "reported"
        assert set(body["stages"]) == {"ingest", "frame_sampler", "aggregator"}
        assert body["stages"]["frame_sampler"]["stage"] == "sampled"

        report = http.get(f"/v1/videos/{video_id}/report")
        assert report.status_code == 200
        assert report.json()["status"] == "complete"
        assert report.json()["source"]["key"].endswith("api_clip.mp4")


def test_a_video_gone_before_sampling_ends_in_a_rejection_not_a_blocked_partition(
        services: ServiceSet) -> None:
    from aiokafka import AIOKafkaProducer

    from tiktok_analyzer.shared.contracts.events import MediaInfo, VideoAccepted
    from tiktok_analyzer.shared.contracts.topics import VIDEOS

    video_id = "v" + uuid.uuid4().hex[:24]
    accepted = VideoAccepted(
        video_id=video_id, source=ObjectRef(bucket="uploads", key=f"gone/{video_id}.mp4"),
        media=MediaInfo(container="mov,mp4", duration_s=2.0, size_bytes=1000, width=180,
                        height=320, video_codec="h264"))

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=KafkaSettings().bootstrap_servers)
        await producer.start()
        try:
            await producer.send_and_wait(VIDEOS.name, encode(accepted), key=video_id.encode())
        finally:
            await producer.stop()

    asyncio.run(send())
    found = asyncio.run(read_reports({video_id}, timeout=60, settle_s=3))
    assert len(found[video_id]) == 1
    report = found[video_id][0]
    assert report.status == "rejected"
    assert "could not read the video" in (report.reason or "")
