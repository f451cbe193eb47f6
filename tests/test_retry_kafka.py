"""A batch that always fails, through real Kafka: a gpu_light frame batch whose payload object
is gone is tried a bounded number of times with backoff, dead-lettered with the reason, and
answered with a `failed` result, so its video's report names the failure; a real clip whose
batches share the partition behind it is analyzed as usual."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from test_deadletter_kafka import read_topic

from tiktok_analyzer.cli.services import ServiceSet
from tiktok_analyzer.cli.submit import read_reports, upload
from tiktok_analyzer.ingest.identity import video_id_for_file
from tiktok_analyzer.shared.contracts.events import (
    AnalyzerStatus,
    FrameBatch,
    Group,
    GroupPlan,
    MediaInfo,
    ObjectRef,
    SampledFrame,
    SamplingManifest,
    StoredBlob,
    VideoAccepted,
)
from tiktok_analyzer.shared.contracts.topics import (
    AGGREGATOR_IN,
    DEADLETTER,
    INPUT_TOPIC_BY_GROUP,
    service_for,
)
from tiktok_analyzer.shared.infra.kafka import encode, make_broker, publish
from tiktok_analyzer.shared.runtime.consume import RetrySettings
from tiktok_analyzer.shared.settings import PipelineSettings, StorageSettings

pytestmark = pytest.mark.infra


def doomed_video(video_id: str) -> tuple[list[object], FrameBatch]:
    """The aggregator's view of a video with one gpu_light batch (the other groups skipped),
    and that batch, whose frame points at an object nobody wrote."""
    ref = ObjectRef(bucket=StorageSettings().upload_bucket, key=f"{video_id}.mp4", etag="x")
    media = MediaInfo(container="mp4", duration_s=1.0, size_bytes=10)
    light = PipelineSettings().for_group(Group.GPU_LIGHT)  # what the service runs
    manifest = SamplingManifest(video_id=video_id, source=ref, media=media, decode_s=0.1, groups={
        Group.GPU_HEAVY: GroupPlan(batches=0, analyzers=PipelineSettings().for_group(
            Group.GPU_HEAVY), skip_reason="not in this test"),
        Group.GPU_LIGHT: GroupPlan(batches=1, analyzers=light),
        Group.AUDIO: GroupPlan(batches=0, analyzers=PipelineSettings().for_group(Group.AUDIO),
                               skip_reason="not in this test"),
    })
    gone = StoredBlob(bucket=StorageSettings().work_bucket,
                      key=f"frames/{video_id}/never-written.jpg", size=1234)
    batch = FrameBatch(video_id=video_id, group=Group.GPU_LIGHT, batch_index=0, frames=[
        SampledFrame(index=0, t=0.0, width=180, height=320, jpeg=gone)])
    return [VideoAccepted(video_id=video_id, source=ref, media=media), manifest], batch


async def send(aggregator_events: list[object], batch: FrameBatch, key: bytes) -> None:
    broker = make_broker()
    await broker.connect()
    try:
        for event in aggregator_events:
            await publish(broker, event, AGGREGATOR_IN)
        # Keyed like the real clip, so it sits on the partition the clip's batches use.
        await broker.publish(encode(batch), topic=INPUT_TOPIC_BY_GROUP[Group.GPU_LIGHT].name,
                             key=key)
    finally:
        await broker.stop()


def test_a_batch_that_always_fails_is_dead_lettered_and_reported_failed(
        services: ServiceSet, video_factory: Callable[..., Path]) -> None:
    color = tuple(random.randrange(40, 216) for _ in range(3))
    clip = video_factory(duration_s=2.0, width=180, height=320, color=color, bpm=120)
    clip_id = video_id_for_file(clip)
    doomed_id = f"doomed-{uuid.uuid4().hex[:12]}"
    before, batch = doomed_video(doomed_id)
    log_before = services.log_path("gpu_light").read_text(errors="replace")

    asyncio.run(send(before, batch, key=clip_id.encode()))
    upload(clip, key=f"retry/{uuid.uuid4().hex[:8]}.mp4")

    found = asyncio.run(read_reports({doomed_id, clip_id}, timeout=180, settle_s=5))
    assert [len(found[v]) for v in (doomed_id, clip_id)] == [1, 1], found
    assert found[clip_id][0].status == "complete"
    doomed = found[doomed_id][0]
    light = [s for s in doomed.analyzers.values() if s.group == Group.GPU_LIGHT]
    assert light and all(s.status is AnalyzerStatus.FAILED for s in light)
    attempts = RetrySettings().attempts
    assert all(f"after {attempts} tries" in (s.reason or "") and "never-written.jpg" in
               (s.reason or "") for s in light), [s.reason for s in light]

    letters = asyncio.run(read_topic(
        DEADLETTER.name, lambda r: r.key == clip_id.encode(), want=1, timeout=60, settle_s=3))
    headers = [{k: v.decode() for k, v in r.headers} for r in letters]
    mine = [h for h in headers if h["dlq-error-kind"] == "handler_error"]
    assert len(mine) == 1, headers
    assert mine[0]["dlq-source-topic"] == INPUT_TOPIC_BY_GROUP[Group.GPU_LIGHT].name
    assert mine[0]["dlq-service"] == service_for(Group.GPU_LIGHT).consumer_group
    assert "never-written.jpg" in mine[0]["dlq-reason"]

    # Bounded: tried `attempts` times, not re-delivered in a loop.
    log = services.log_path("gpu_light").read_text(errors="replace")[len(log_before):]
    assert log.count(f"{doomed_id}/gpu_light#0 failed (try") == attempts
    assert services.procs["gpu_light"].poll() is None
