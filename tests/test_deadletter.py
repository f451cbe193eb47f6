"""Dead-lettering without Kafka: how poison is classified, what the dead letter carries, and
that every subscriber of the six services declares an at-least-once acknowledgement policy."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from test_deadletter_kafka import poison_bodies

from tiktok_analyzer.ingest.notifications import MinioNotification
from tiktok_analyzer.shared.contracts.events import (
    AggregatorInput,
    AudioChunk,
    FrameBatch,
    ObjectRef,
    ScrapedVideo,
    VideoAccepted,
)
from tiktok_analyzer.shared.contracts.topics import (
    AGGREGATOR_IN,
    AUDIO_CHUNKS,
    FRAMES_HEAVY,
    FRAMES_LIGHT,
    SCRAPED,
    UPLOADS,
    VIDEOS,
    Service,
)
from tiktok_analyzer.shared.infra import kafka
from tiktok_analyzer.shared.infra.blobs import LocalBlobStore
from tiktok_analyzer.shared.settings import KafkaSettings

SERVICES = tuple(str(s) for s in Service)
ADAPTER_BY_TOPIC = {
    UPLOADS.name: MinioNotification, SCRAPED.name: ScrapedVideo, VIDEOS.name: VideoAccepted,
    FRAMES_HEAVY.name: FrameBatch, FRAMES_LIGHT.name: FrameBatch, AUDIO_CHUNKS.name: AudioChunk,
    AGGREGATOR_IN.name: AggregatorInput,
}
REF = ObjectRef(bucket="uploads", key="poisoned/a.mp4")
LIMIT = 4096


@pytest.mark.parametrize("topic", sorted(ADAPTER_BY_TOPIC))
def test_each_poison_is_classified_as_the_kafka_test_expects(topic: str) -> None:
    adapter = kafka.adapter_for(ADAPTER_BY_TOPIC[topic])
    for kind, body in poison_bodies(topic, "v" * 64, REF, LIMIT).items():
        poison = kafka.decode(body, adapter, LIMIT)
        assert isinstance(poison, kafka.Poison), (kind, poison)
        assert poison.kind == kind, (kind, poison)
        assert poison.reason and len(poison.reason) <= 300


@pytest.mark.parametrize("topic", sorted(ADAPTER_BY_TOPIC))
def test_the_valid_looking_event_itself_decodes(topic: str) -> None:
    from test_deadletter_kafka import valid_looking

    valid, _ = valid_looking(topic, "v" * 64, REF)
    body = json.dumps(valid).encode()
    decoded = kafka.decode(body, kafka.adapter_for(ADAPTER_BY_TOPIC[topic]), len(body))
    assert not isinstance(decoded, kafka.Poison), decoded


def test_size_is_checked_before_parsing_and_the_limit_itself_is_allowed() -> None:
    adapter = kafka.adapter_for(FrameBatch)
    assert kafka.decode(b"{" * 11, adapter, 10) == kafka.Poison(
        "oversize", "oversize: 11 bytes > 10")
    assert kafka.decode(b"{" * 10, adapter, 10).kind == "invalid_json"  # type: ignore[union-attr]


def test_accepted_versions_come_from_the_models() -> None:
    assert kafka.accepted_versions(kafka.adapter_for(AggregatorInput)) == (1,)
    assert kafka.accepted_versions(kafka.adapter_for(MinioNotification)) == ()


def test_a_version_claim_wins_over_other_errors_and_odd_values_do_not_crash() -> None:
    adapter = kafka.adapter_for(AggregatorInput)
    for claimed in (99, "1", [1], None):
        body = json.dumps({"kind": "nonsense", "schema_version": claimed}).encode()
        poison = kafka.decode(body, adapter, LIMIT)
        assert isinstance(poison, kafka.Poison) and poison.kind == "unknown_version", poison
    assert kafka.decode(b"[1, 2]", adapter, LIMIT).kind == "schema"  # type: ignore[union-attr]


@dataclass
class _Record:
    topic: str = "tiktok.frames.gpu_light"
    partition: int = 4
    offset: int = 17
    key: bytes = b"vid"


@dataclass
class _Broker:
    sent: list[dict[str, Any]] = field(default_factory=list)

    async def publish(self, body: bytes, **kwargs: Any) -> None:
        self.sent.append({"body": body, **kwargs})


@dataclass
class _Message:
    body: bytes
    raw_message: _Record = field(default_factory=_Record)


def _run(body: bytes, settings: KafkaSettings) -> tuple[object, dict[str, Any]]:
    broker = _Broker()
    decoded = asyncio.run(kafka.decode_or_deadletter(
        cast(KafkaBroker, broker), cast(KafkaMessage, _Message(body)),
        kafka.adapter_for(FrameBatch), group="tiktok-gpu_light", settings=settings))
    assert len(broker.sent) == 1
    return decoded, broker.sent[0]


def test_a_dead_letter_carries_kind_reason_service_and_origin() -> None:
    decoded, letter = _run(b'{"schema_version": 1}', KafkaSettings())
    assert decoded is None
    assert letter["body"] == b'{"schema_version": 1}'
    assert letter["topic"] == "tiktok.deadletter" and letter["key"] == b"vid"
    headers = letter["headers"]
    assert headers["dlq-error-kind"] == "schema" and headers["dlq-reason"]
    assert (headers["dlq-service"], headers["dlq-source-topic"], headers["dlq-source-partition"],
            headers["dlq-source-offset"]) == ("tiktok-gpu_light", "tiktok.frames.gpu_light",
                                              "4", "17")
    assert "dlq-payload-ref" not in headers


def test_a_body_too_big_for_the_dead_letter_topic_is_parked_by_reference(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalBlobStore(tmp_path)
    monkeypatch.setattr(kafka, "_payload_store", lambda: store)
    body = b"x" * 2000
    _, letter = _run(body, KafkaSettings(max_event_bytes=1000, max_message_bytes=1500))
    headers = letter["headers"]
    assert headers["dlq-error-kind"] == "oversize"
    assert headers["dlq-payload-ref"] == "work/deadletter/tiktok.frames.gpu_light/4-17"
    assert json.loads(letter["body"])["dlq_payload_ref"] == headers["dlq-payload-ref"]
    assert store.get("work", "deadletter/tiktok.frames.gpu_light/4-17") == body


FASTSTREAM_SERVICES = tuple(s for s in SERVICES if s != "aggregator")


@pytest.mark.parametrize("service", FASTSTREAM_SERVICES)
def test_every_subscriber_commits_only_after_its_handler_and_dead_letters(service: str) -> None:
    # FastStream 0.7 keeps the effective policy on each subscriber; an undeclared one would
    # read ACK_FIRST (commit on receipt: at most once). ACK would commit a failed message too,
    # so NACK_ON_ERROR is the only policy that never loses an unfinished message here.
    app = importlib.import_module(f"tiktok_analyzer.{service}.app").app
    subscribers = app.broker.subscribers
    assert subscribers, service
    for sub in subscribers:
        assert sub.ack_policy is AckPolicy.NACK_ON_ERROR, (service, sub.topics, sub.ack_policy)
        for call in sub.calls:
            # _original_call is the decorated function; no public accessor exists in 0.7.
            source = inspect.getsource(call.handler._original_call)
            assert "decode_or_deadletter(" in source, (service, call.name)


def test_the_aggregator_commits_by_hand_and_dead_letters() -> None:
    # The aggregator is a plain aiokafka consumer (it commits a chosen offset per partition):
    # auto-commit must be off, and every record must pass the dead-letter decoding.
    from tiktok_analyzer.aggregator import app

    source = inspect.getsource(app)
    assert "enable_auto_commit=False" in source
    assert "dead_letter(" in inspect.getsource(app.AggregatorService.handle)
