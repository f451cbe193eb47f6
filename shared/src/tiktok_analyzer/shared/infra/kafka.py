"""Thin Kafka wiring shared by every service: encoding, keyed publishing, dead letters.

Handlers receive the raw message and decode it here rather than letting FastStream coerce a
JSON dict into the model: our payload bytes are base64 in JSON, which pydantic only decodes
when it validates JSON text itself (``model_validate_json``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, TypeVar

from faststream import BaseMiddleware
from faststream.kafka import KafkaBroker, KafkaMessage
from pydantic import BaseModel, TypeAdapter, ValidationError

from tiktok_analyzer.shared.contracts.topics import DEADLETTER, Topic
from tiktok_analyzer.shared.infra import cloudevents, security
from tiktok_analyzer.shared.infra.blobs import MinioBlobStore
from tiktok_analyzer.shared.infra.outage import KAFKA, retry_async
from tiktok_analyzer.shared.observability import logs, metrics, telemetry
from tiktok_analyzer.shared.settings import KafkaSettings, StorageSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

# handler_error: the message decoded but handling it kept failing (a bug, not an outage).
ErrorKind = Literal["invalid_json", "schema", "unknown_version", "oversize", "handler_error"]


class MessageScope(BaseMiddleware):
    """Each message is handled on a clean slate: no trace context and no video left over from
    the message before. FastStream runs a subscriber's messages one after another in one task,
    and its telemetry middleware does not detach its context when a handler raises; this
    middleware, the outermost, restores both when the message is done."""

    async def on_receive(self) -> None:
        self._video = logs.VIDEO_ID.set(None)
        self._trace = telemetry.isolated_context()
        self._trace.__enter__()

    async def after_processed(self, exc_type: Any = None, exc_val: Any = None,
                              exc_tb: Any = None) -> bool | None:
        self._trace.__exit__(exc_type, exc_val, exc_tb)
        logs.VIDEO_ID.reset(self._video)
        return False


def make_broker(settings: KafkaSettings | None = None, *, service: str | None = None,
                **kwargs: Any) -> KafkaBroker:
    """A broker publishing with acks=all and idempotence. Given the ``service`` it runs in,
    it is also instrumented: FastStream's Prometheus middleware (messages in and out per topic,
    handler latency), FastStream's OpenTelemetry middleware when tracing is configured (the
    trace context in message headers, see ``telemetry``), and its log lines go through the
    root logger (``logs``). TLS and SASL come from the settings (``security``)."""
    settings = settings or KafkaSettings()
    if service is not None:
        middlewares: list[Any] = [MessageScope]
        if telemetry.tracing_configured():
            from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware

            # The global tracer provider, installed by the service's start-up; spans are
            # no-ops until then.
            middlewares.append(KafkaTelemetryMiddleware(include_messages_counters=False))
        middlewares.append(metrics.faststream_middleware(service))
        kwargs.setdefault("middlewares", middlewares)
        kwargs.setdefault("logger", logging.getLogger("faststream.access.kafka"))
    return KafkaBroker(
        settings.bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        max_request_size=settings.max_message_bytes + 64 * 1024,
        security=security.kafka_security(settings),
        **kwargs,
    )


def encode(event: BaseModel) -> bytes:
    return event.model_dump_json().encode()


async def publish(broker: KafkaBroker, event: Any, topic: Topic) -> None:
    """Publish keyed by video ID, so every message of a video shares one partition, with the
    CloudEvents Kafka binding's headers (``cloudevents``)."""
    body = encode(event)
    headers = {"event-kind": getattr(event, "kind", type(event).__name__),
               **cloudevents.headers_for(event, metrics.service() or "tiktok-analyzer")}
    # A broker restart delays the publish (the message is not lost, the offset not committed).
    await retry_async(KAFKA, f"publish to {topic.name}", lambda: broker.publish(
        body, topic=topic.name, key=event.video_id.encode(), headers=headers))


# --- decoding and dead letters ----------------------------------------------------------------


@dataclass(frozen=True)
class Poison:
    """Why a message cannot be processed: its ``dlq-error-kind`` and a short ``dlq-reason``."""

    kind: ErrorKind
    reason: str


_ABSENT = object()


@cache
def accepted_versions(adapter: TypeAdapter[Any]) -> tuple[Any, ...]:
    """Every ``schema_version`` the adapter's model (or union of models) accepts, read from its
    JSON Schema so no list is kept by hand; empty for a model without versions."""
    found: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            prop = node.get("properties", {}).get("schema_version")
            if isinstance(prop, dict):
                found.extend([prop["const"]] if "const" in prop else prop.get("enum", []))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(adapter.json_schema())
    return tuple(dict.fromkeys(found))


def _claimed_version(body: bytes) -> Any:
    try:
        parsed = json.loads(body)
    except ValueError:
        return _ABSENT
    return parsed.get("schema_version", _ABSENT) if isinstance(parsed, dict) else _ABSENT


def _unknown_version(claimed: Any, versions: tuple[Any, ...]) -> Poison:
    accepts = ", ".join(map(str, versions)) or "none"
    return Poison("unknown_version",
                  f"unknown schema_version {json.dumps(claimed)[:40]} (accepts {accepts})")


def decode(body: bytes, adapter: TypeAdapter[T], max_bytes: int) -> T | Poison:
    """The event in ``body``, or why no consumer can ever process it.

    Size is checked before parsing, so an oversize body costs no parse. A claimed
    ``schema_version`` the model does not accept wins over its other errors: a newer producer's
    event is not "malformed", it needs a newer consumer.
    """
    if len(body) > max_bytes:
        return Poison("oversize", f"oversize: {len(body)} bytes > {max_bytes}")
    versions = accepted_versions(adapter)
    try:
        event = adapter.validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if errors[0]["type"] == "json_invalid":
            return Poison("invalid_json", errors[0]["msg"][:300])
        claimed = _claimed_version(body)
        if claimed is not _ABSENT and claimed not in versions:
            return _unknown_version(claimed, versions)
        first = errors[0]
        where = ".".join(map(str, first["loc"])) or "body"
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        return Poison("schema", f"{where}: {first['msg']}{more}"[:300])
    # A model without versions (MinIO's notifications) ignores unknown keys, so a sender that
    # claims a version speaks a format this consumer does not know. The substring test keeps
    # the second parse off the normal path.
    if not versions and b'"schema_version"' in body:
        claimed = _claimed_version(body)
        if claimed is not _ABSENT:
            return _unknown_version(claimed, versions)
    return event


@cache
def _settings() -> KafkaSettings:
    return KafkaSettings()


@cache
def _payload_store() -> MinioBlobStore:
    # Made on the first oversize dead letter only: most consumers never need MinIO for this.
    return MinioBlobStore.from_settings()


def _park_payload(topic: str, partition: str, offset: str, body: bytes) -> str:
    bucket = StorageSettings().work_bucket
    key = f"deadletter/{topic}/{partition}-{offset}"
    _payload_store().put(bucket, key, body, "application/octet-stream")
    return f"{bucket}/{key}"


async def dead_letter(broker: KafkaBroker, msg: KafkaMessage, poison: Poison, group: str,
                      settings: KafkaSettings | None = None) -> None:
    """Park ``msg`` on the dead-letter topic with why, who and where from in headers.

    The copy keeps the original bytes while they fit ``max_message_bytes`` (what our producers
    and a default broker accept). A larger body goes to the work bucket under
    ``deadletter/<topic>/<partition>-<offset>`` and the copy carries a small JSON reference
    instead, named in the ``dlq-payload-ref`` header (``<bucket>/<key>``): nothing is lost and
    the dead-letter topic needs no larger limit than any other. A replay writes the same key.
    """
    settings = settings or _settings()
    record = msg.raw_message
    topic = str(getattr(record, "topic", ""))
    partition = str(getattr(record, "partition", ""))
    offset = str(getattr(record, "offset", ""))
    headers = {
        "dlq-reason": poison.reason,
        "dlq-error-kind": poison.kind,
        "dlq-service": group,
        "dlq-source-topic": topic,
        "dlq-source-partition": partition,
        "dlq-source-offset": offset,
    }
    body = msg.body
    if len(body) > settings.max_message_bytes:
        ref = await asyncio.to_thread(_park_payload, topic, partition, offset, body)
        headers["dlq-payload-ref"] = ref
        body = json.dumps({"dlq_payload_ref": ref, "size": len(body)}).encode()
    log.error("dead-lettering %s/%s@%s (%s): %s", topic, partition, offset, poison.kind,
              poison.reason)
    await broker.publish(body, topic=DEADLETTER.name, key=getattr(record, "key", None),
                         headers=headers)
    metrics.dead_lettered(poison.kind, topic)


async def decode_or_deadletter(broker: KafkaBroker, msg: KafkaMessage, adapter: TypeAdapter[T],
                               *, group: str, settings: KafkaSettings | None = None) -> T | None:
    """The decoded event, or ``None`` after the message went to the dead-letter topic.

    Every subscriber of every service calls this first. A message no consumer can process
    (invalid JSON, schema-invalid, unknown schema version, above ``max_event_bytes``) would
    otherwise fail forever under NACK_ON_ERROR and block its partition; parking it with its
    origin keeps the partition flowing and loses nothing. If the dead-letter publish itself
    fails, the handler raises and the message is redelivered, never skipped.
    """
    settings = settings or _settings()
    decoded = decode(msg.body, adapter, settings.max_event_bytes)
    if isinstance(decoded, Poison):
        await dead_letter(broker, msg, decoded, group, settings)
        return None
    video_id = getattr(decoded, "video_id", None)
    logs.bind_video(video_id)
    telemetry.set_video(video_id)
    return decoded


def adapter_for(model: type[T] | Any) -> TypeAdapter[Any]:
    return TypeAdapter(model)
