"""Poison on every input topic, through the real Kafka, MinIO and services: each poison message
is dead-lettered exactly once with its kind, reason and origin, and the partitions it sat on
keep flowing (a clip whose messages travel behind the poison still gets its report)."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tiktok_analyzer.cli.services import ServiceSet
from tiktok_analyzer.cli.submit import read_reports, upload
from tiktok_analyzer.ingest.identity import video_id_for_file
from tiktok_analyzer.shared.contracts.events import (
    AudioChunk,
    FrameBatch,
    Group,
    InlineBlob,
    MediaInfo,
    ObjectRef,
    PartialResult,
    ScrapedVideo,
    UpstreamInfo,
    VideoAccepted,
)
from tiktok_analyzer.shared.contracts.topics import (
    AGGREGATOR_IN,
    AUDIO_CHUNKS,
    DEADLETTER,
    FRAMES_HEAVY,
    FRAMES_LIGHT,
    SCRAPED,
    UPLOADS,
    VIDEOS,
)
from tiktok_analyzer.shared.infra.blobs import MinioBlobStore
from tiktok_analyzer.shared.settings import KafkaSettings, StorageSettings

pytestmark = pytest.mark.infra

GROUP_BY_TOPIC = {
    UPLOADS.name: "tiktok-ingest", SCRAPED.name: "tiktok-ingest",
    VIDEOS.name: "tiktok-frame-sampler", FRAMES_HEAVY.name: "tiktok-gpu_heavy",
    FRAMES_LIGHT.name: "tiktok-gpu_light", AUDIO_CHUNKS.name: "tiktok-audio",
    AGGREGATOR_IN.name: "tiktok-aggregator",
}


def valid_looking(topic: str, video_id: str, ref: ObjectRef) -> tuple[dict[str, Any], str]:
    """A realistic event for ``topic`` as a JSON object, and one of its required fields."""
    event: Any
    if topic == UPLOADS.name:  # MinIO's S3 event format, as notifications.py reads it
        record = {"eventName": "s3:ObjectCreated:Put", "eventSource": "minio:s3",
                  "s3": {"bucket": {"name": ref.bucket}, "object": {"key": ref.key, "size": 1}}}
        return {"EventName": "s3:ObjectCreated:Put", "Key": f"{ref.bucket}/{ref.key}",
                "Records": [record]}, "Key"
    if topic == SCRAPED.name:
        event = ScrapedVideo(object=ref, upstream=UpstreamInfo(platform_video_id="poison"))
        return event.model_dump(mode="json"), "object"
    if topic == VIDEOS.name:
        event = VideoAccepted(video_id=video_id, source=ref,
                              media=MediaInfo(container="mp4", duration_s=2.0, size_bytes=1))
    elif topic in (FRAMES_HEAVY.name, FRAMES_LIGHT.name):
        group = Group.GPU_HEAVY if topic == FRAMES_HEAVY.name else Group.GPU_LIGHT
        event = FrameBatch(video_id=video_id, group=group, batch_index=0, frames=[])
    elif topic == AUDIO_CHUNKS.name:
        event = AudioChunk(video_id=video_id, batch_index=0, start_s=0.0, sample_rate=16_000,
                           num_samples=0, pcm_s16le=InlineBlob(data=b""))
    else:
        event = PartialResult(video_id=video_id, group=Group.GPU_LIGHT, batch_index=0, runs=[])
    return event.model_dump(mode="json"), "video_id"


def poison_bodies(topic: str, video_id: str, ref: ObjectRef,
                  max_event_bytes: int) -> dict[str, bytes]:
    """The four kinds of poison for ``topic``, by their expected ``dlq-error-kind``."""
    valid, required = valid_looking(topic, video_id, ref)
    missing = {k: v for k, v in valid.items() if k != required}
    # Just above the consumer's limit, so only the size check can catch it; the broker (and the
    # test producer) accept it.
    padding = max_event_bytes + 1 - len(b'{"padding":""}')
    return {
        "invalid_json": b'{"video_id": "' + video_id.encode() + b'", oops',
        "schema": json.dumps(missing).encode(),
        "unknown_version": json.dumps({**valid, "schema_version": 99}).encode(),
        "oversize": b'{"padding":"' + b"x" * padding + b'"}',
    }


def sarama_partition(key: bytes, partitions: int) -> int:
    """The partition MinIO's Kafka client (sarama's default hash partitioner: FNV-1a, signed
    modulo, absolute value) picks for ``key``; aiokafka's murmur2 would pick another."""
    h = 0x811C9DC5
    for byte in key:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    signed = h - (1 << 32) if h >= 1 << 31 else h
    return abs(signed) % partitions


@dataclass(frozen=True)
class Sent:
    topic: str
    partition: int
    offset: int
    kind: str
    key: bytes
    body: bytes


async def send_poison(video_id: str, ref: ObjectRef, max_event_bytes: int) -> list[Sent]:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=KafkaSettings().bootstrap_servers, acks="all",
                                max_request_size=max_event_bytes + 64 * 1024)
    sent: list[Sent] = []
    await producer.start()
    try:
        for topic in (UPLOADS, SCRAPED, VIDEOS, FRAMES_HEAVY, FRAMES_LIGHT, AUDIO_CHUNKS,
                      AGGREGATOR_IN):
            by_object = topic in (UPLOADS, SCRAPED)
            key = f"{ref.bucket}/{ref.key}".encode() if by_object else video_id.encode()
            # MinIO partitions its notifications its own way: put the poison where the clip's
            # notification will land, so it really sits in front of it.
            partition = sarama_partition(key, topic.partitions) if topic is UPLOADS else None
            for kind, body in poison_bodies(topic.name, video_id, ref, max_event_bytes).items():
                meta = await producer.send_and_wait(topic.name, body, key=key,
                                                    partition=partition)
                sent.append(Sent(topic.name, meta.partition, meta.offset, kind, key, body))
    finally:
        await producer.stop()
    return sent


async def read_topic(topic: str, keep: Callable[[Any], bool], want: int, timeout: float,
                     settle_s: float) -> list[Any]:
    """Records of ``topic`` from the beginning that ``keep`` selects; reads until ``want`` are
    found, then ``settle_s`` longer to catch duplicates."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=KafkaSettings().bootstrap_servers,
                                group_id=None, auto_offset_reset="earliest",
                                enable_auto_commit=False, max_partition_fetch_bytes=4 * 1024**2)
    found: list[Any] = []
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        settle_until: float | None = None
        while time.monotonic() < min(deadline, settle_until or deadline):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found.extend(r for r in records if keep(r))
            if settle_until is None and len(found) >= want:
                settle_until = time.monotonic() + settle_s
    finally:
        await consumer.stop()
    return found


def test_poison_on_every_input_topic_is_dead_lettered_and_partitions_keep_flowing(
        services: ServiceSet, video_factory: Callable[..., Path]) -> None:
    color = tuple(random.randrange(40, 216) for _ in range(3))
    clip = video_factory(duration_s=2.0, width=180, height=320, color=color, bpm=120)
    video_id = video_id_for_file(clip)  # known before upload, so poison can be keyed by it
    storage = StorageSettings()
    ref = ObjectRef(bucket=storage.upload_bucket, key=f"poisoned/{uuid.uuid4().hex[:8]}.mp4")
    max_event_bytes = KafkaSettings().max_event_bytes

    sent = asyncio.run(send_poison(video_id, ref, max_event_bytes))
    upload(clip, key=ref.key)

    found = asyncio.run(read_reports({video_id}, timeout=180, settle_s=5))
    assert len(found[video_id]) == 1, f"want one report, got {len(found[video_id])}"
    assert found[video_id][0].status == "complete"

    # The clip's notification sat behind the upload poison only if MinIO chose the partition
    # sarama_partition predicted.
    object_key = f"{ref.bucket}/{ref.key}".encode()
    ours = {(s.topic, s.partition, s.offset) for s in sent}
    notes = asyncio.run(read_topic(UPLOADS.name, lambda r: r.key == object_key, want=5,
                                   timeout=30, settle_s=0))
    minio_partitions = {r.partition for r in notes
                        if (UPLOADS.name, r.partition, r.offset) not in ours}
    upload_poison = {s.partition for s in sent if s.topic == UPLOADS.name}
    assert minio_partitions == upload_poison, (minio_partitions, upload_poison)

    keys = {s.key for s in sent}
    letters = asyncio.run(read_topic(DEADLETTER.name, lambda r: r.key in keys, want=len(sent),
                                     timeout=120, settle_s=5))
    by_origin: dict[tuple[str, int, int], list[tuple[dict[str, str], bytes]]] = {}
    for letter in letters:
        headers = {k: v.decode() for k, v in letter.headers}
        origin = (headers["dlq-source-topic"], int(headers["dlq-source-partition"]),
                  int(headers["dlq-source-offset"]))
        by_origin.setdefault(origin, []).append((headers, letter.value))
    store = MinioBlobStore.from_settings()
    for s in sent:
        copies = by_origin.pop((s.topic, s.partition, s.offset), [])
        assert len(copies) == 1, f"{s.kind} on {s.topic}: {len(copies)} dead letters"
        headers, value = copies[0]
        assert headers["dlq-error-kind"] == s.kind, (s.topic, headers)
        assert headers["dlq-reason"].strip(), (s.topic, headers)
        assert headers["dlq-service"] == GROUP_BY_TOPIC[s.topic], (s.topic, headers)
        if s.kind == "oversize":  # too big for a DLQ copy: parked in MinIO by reference
            bucket, _, key = headers["dlq-payload-ref"].partition("/")
            assert store.get(bucket, key) == s.body
        else:
            assert value == s.body
    assert not by_origin, f"dead letters nobody sent: {sorted(by_origin)}"

    dead = {name: p.returncode for name, p in services.procs.items() if p.poll() is not None}
    assert not dead, f"services exited: {dead}"
