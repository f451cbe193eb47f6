"""Thin Kafka wiring shared by every service: encoding, keyed publishing, dead letters.

Handlers receive the raw message and decode it here rather than letting FastStream coerce a
JSON dict into the model: our payload bytes are base64 in JSON, which pydantic only decodes
when it validates JSON text itself (``model_validate_json``).
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from faststream.kafka import KafkaBroker, KafkaMessage
from pydantic import BaseModel, TypeAdapter, ValidationError

from tiktok_analyzer.shared.settings import KafkaSettings
from tiktok_analyzer.shared.topics import DEADLETTER, Topic

log = logging.getLogger(__name__)

T = TypeVar("T")


def make_broker(settings: KafkaSettings | None = None, **kwargs: Any) -> KafkaBroker:
    settings = settings or KafkaSettings()
    return KafkaBroker(
        settings.bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        max_request_size=settings.max_message_bytes + 64 * 1024,
        **kwargs,
    )


def encode(event: BaseModel) -> bytes:
    return event.model_dump_json().encode()


async def publish(broker: KafkaBroker, event: Any, topic: Topic) -> None:
    """Publish keyed by video ID, so every message of a video shares one partition."""
    await broker.publish(
        encode(event),
        topic=topic.name,
        key=event.video_id.encode(),
        headers={"event-kind": getattr(event, "kind", type(event).__name__)},
    )


async def decode_or_deadletter(broker: KafkaBroker, msg: KafkaMessage,
                               adapter: TypeAdapter[T]) -> T | None:
    """The decoded event, or ``None`` after the message went to the dead-letter topic.

    A message no consumer can decode would otherwise be retried forever and block its
    partition; parking it with its origin keeps the partition flowing and loses nothing.
    """
    try:
        return adapter.validate_json(msg.body)
    except ValidationError as exc:
        record = msg.raw_message
        reason = exc.errors(include_url=False)[0]
        headers = {
            "dlq-reason": f"{reason['type']}: {reason['msg']} at {reason['loc']}"[:500],
            "dlq-source-topic": str(getattr(record, "topic", "")),
            "dlq-source-partition": str(getattr(record, "partition", "")),
            "dlq-source-offset": str(getattr(record, "offset", "")),
        }
        log.error("dead-lettering undecodable message: %s", headers)
        await broker.publish(msg.body, topic=DEADLETTER.name,
                             key=getattr(record, "key", None), headers=headers)
        return None


def adapter_for(model: type[T] | Any) -> TypeAdapter[Any]:
    return TypeAdapter(model)
