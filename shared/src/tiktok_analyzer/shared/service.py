"""The one shape of the three analyzer consumer services (gpu_heavy, gpu_light, audio).

Each consumes its group's input topic, runs its analyzers in a worker thread (the event loop
keeps heartbeating), and publishes one partial result per batch.

Messages are consumed several at a time (FastStream's batch subscriber: one aiokafka
``getmany`` of up to ``TIKTOK_BATCHING_MAX_MESSAGES`` records, waiting at most
``TIKTOK_BATCHING_WAIT_MS`` when none is fetched yet), so that the analyzers' model calls take
frames of several in-flight batches, of any videos (``GroupRunner.run_many``). A library
feature rather than a hand-written gathering window in front of the runner: the batch is one
message to FastStream, so its ack and nack already cover every record in it.

Commit order, per set of messages taken together: analyze them all, publish every partial
result (acks=all), then commit (FastStream acks after the handler returns: the consumer's
position, just past the records it returned). If anything fails, FastStream's nack seeks each
partition back to its first record of the set, and a crash before the commit replays them
all; the aggregator keeps one result per (video, group, batch), so the replay is harmless.
A set that raises is handled batch by batch; a batch that still raises after
``TIKTOK_RETRY_ATTEMPTS`` tries with backoff (e.g. its payload object is gone) is dead-lettered
with the reason and answered with a ``failed`` result for every analyzer of the group, so the
partition keeps flowing and the video's report says what happened.

``run`` is also how ingest and frame_sampler run: it sets up logs, traces and the
observability server (``observability``) around any FastStream app registered with
``observe``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any
from weakref import WeakKeyDictionary

from faststream import AckPolicy, Context, ContextRepo, FastStream
from faststream.kafka import KafkaMessage
from faststream.kafka.message import FAKE_CONSUMER

from tiktok_analyzer.shared.contracts.events import AudioChunk, FrameBatch, Group, PartialResult
from tiktok_analyzer.shared.contracts.topics import AGGREGATOR_IN, INPUT_TOPIC_BY_GROUP, service_for
from tiktok_analyzer.shared.infra.blobs import MinioBlobStore
from tiktok_analyzer.shared.infra.kafka import (
    Poison,
    adapter_for,
    dead_letter,
    decode_or_deadletter,
    make_broker,
    publish,
)
from tiktok_analyzer.shared.observability import metrics, telemetry
from tiktok_analyzer.shared.observability.health import Check
from tiktok_analyzer.shared.observability.observer import Observer, setup_process
from tiktok_analyzer.shared.runtime.analyzers import GroupRunner, make_runner
from tiktok_analyzer.shared.runtime.consume import (
    BatchingSettings,
    Event,
    RetrySettings,
    analyze_batches,
    failed_result,
)
from tiktok_analyzer.shared.runtime.gpu import GpuSettings
from tiktok_analyzer.shared.runtime.models import ModelStore
from tiktok_analyzer.shared.settings import ModelStoreSettings, PipelineSettings

log = logging.getLogger(__name__)


@dataclass
class _Observed:
    service: str
    checks: dict[str, Check] = field(default_factory=dict)
    gpu: bool = False


_OBSERVED: WeakKeyDictionary[FastStream, _Observed] = WeakKeyDictionary()


def observe(app: FastStream, service: str, checks: Mapping[str, Check] | None = None, *,
            gpu: bool = False) -> None:
    """Declare which service ``app`` is (its metrics label, observability port and consumer
    group) and the readiness checks it adds to "the broker answers"."""
    _OBSERVED[app] = _Observed(service, dict(checks or {}), gpu)


@dataclass(frozen=True)
class ConsumerDeps:
    """What a consumer service's handler needs, made once at start-up (models loaded) and
    handed to it through FastStream's context."""

    runner: GroupRunner
    store: MinioBlobStore


# Module level: FastStream resolves handler annotations against the module's globals.
Deps = Annotated[ConsumerDeps, Context("deps")]


def consumer_app(group: Group) -> FastStream:
    service = str(group)
    broker = make_broker(service=service)
    app = FastStream(broker)
    adapter = adapter_for(AudioChunk if group is Group.AUDIO else FrameBatch)
    group_id = service_for(group).consumer_group

    @app.on_startup
    async def load_models(context: ContextRepo) -> None:
        models = ModelStoreSettings()
        pipeline = PipelineSettings()
        keys = pipeline.for_group(group)
        runner = await asyncio.to_thread(
            make_runner, group, keys, ModelStore(models.store), models.device,
            pipeline.settings_for_group(group), GpuSettings().memory_fraction)
        context.set_global("deps", ConsumerDeps(runner, MinioBlobStore.from_settings()))
        log.info("%s ready with analyzers %s", group, keys)

    @app.on_shutdown
    async def unload() -> None:
        deps: ConsumerDeps | None = app.context.get("deps")
        if deps is not None:
            deps.runner.close()

    async def models_ready() -> str | None:
        deps: ConsumerDeps | None = app.context.get("deps")
        if deps is None or not deps.runner.loaded:
            return "analyzers not loaded yet"
        if deps.runner.stuck:
            return f"analyzers stuck past their timeout: {', '.join(deps.runner.stuck)}"
        return None

    observe(app, service, {"models": models_ready}, gpu=True)

    batching = BatchingSettings()

    @broker.subscriber(
        INPUT_TOPIC_BY_GROUP[group].name,
        group_id=group_id,
        # Committed only after every partial result of the set is published (or the message
        # dead-lettered); on an error, each partition is sought back to the set's first record.
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
        batch=True,
        max_records=batching.max_messages,
        batch_timeout_ms=batching.wait_ms,
    )
    async def on_batches(msg: KafkaMessage, deps: Deps) -> None:
        raw: Any = msg.raw_message  # a tuple of records (a list under FastStream's test broker)
        events: list[Event] = []
        messages: list[KafkaMessage] = []
        for record in raw if isinstance(raw, tuple | list) else (raw,):
            # Each record on its own, so a poison one goes to the dead-letter topic with its
            # own partition and offset; the set is acked (or nacked) as one by FastStream.
            one = KafkaMessage(record, record.value or b"", consumer=FAKE_CONSUMER,
                               headers={k: v.decode() for k, v in record.headers})
            # In a span of the record's own trace: decoding names its video on the current
            # span, which must not be the set's (a root of no video's trace).
            with telemetry.consumer_span(record.topic, record.headers, {
                    "messaging.kafka.destination.partition": record.partition,
                    "messaging.kafka.message.offset": record.offset}):
                event = await decode_or_deadletter(broker, one, adapter, group=group_id)
            if event is not None:
                events.append(event)
                messages.append(one)
        if not events:
            return
        first: Any = messages[0].raw_message
        try:
            # The analysis spans go into the trace of the set's first batch (one model call
            # serves every video of the set, so it cannot sit in each one's trace).
            with telemetry.consumer_span(first.topic, first.headers, {
                    "batch.count": len(events)}):
                partials = await asyncio.to_thread(analyze_batches, deps.runner, events,
                                                   deps.store)
        except Exception:
            # One of them cannot be handled: each on its own, so the others go on.
            log.exception("a set of %d batches failed; handling them one by one", len(events))
            partials = [await analyze_or_park(deps, event, one)
                        for event, one in zip(events, messages, strict=True)]
        for event, partial in zip(events, partials, strict=True):
            metrics.record_runs(str(group), partial.runs,
                                len(event.frames) if isinstance(event, FrameBatch) else 1)
        await asyncio.gather(*(publish_in_trace(one, partial)
                               for one, partial in zip(messages, partials, strict=True)))

    async def publish_in_trace(one: KafkaMessage, partial: PartialResult) -> None:
        """Publish a batch's result inside a consumer span continuing that batch's own trace
        (its headers): the set's single FastStream span would put every video of the set in
        one trace, or none."""
        record: Any = one.raw_message
        with telemetry.consumer_span(record.topic, record.headers, {
                telemetry.VIDEO_ID: partial.video_id,
                "messaging.kafka.destination.partition": record.partition,
                "messaging.kafka.message.offset": record.offset}):
            await publish(broker, partial, AGGREGATOR_IN)

    retry = RetrySettings()

    async def analyze_or_park(deps: ConsumerDeps, event: Event, one: KafkaMessage
                              ) -> PartialResult:
        """Analyze one batch, retried with backoff; a batch that still raises is
        dead-lettered with the reason and answered with a ``failed`` result, so the
        partition moves on and the video's report names the failure. Before this, FastStream
        re-delivered such a message at once, forever (a nack seeks back to it)."""
        for attempt in range(retry.attempts):
            try:
                result = await asyncio.to_thread(analyze_batches, deps.runner, [event],
                                                 deps.store)
                return result[0]
            except Exception as exc:
                failure = exc
                log.warning("batch %s/%s#%d failed (try %d of %d): %s: %s", event.video_id,
                            group, event.batch_index, attempt + 1, retry.attempts,
                            type(exc).__name__, exc)
                if attempt + 1 < retry.attempts:
                    await asyncio.sleep(retry.backoff_s * 2 ** attempt)
        reason = (f"batch {event.batch_index} could not be analyzed after {retry.attempts} "
                  f"tries: {type(failure).__name__}: {failure}")[:500]
        await dead_letter(broker, one, Poison("handler_error", reason), group_id)
        return failed_result(deps.runner, event, reason)

    return app


def run(app: FastStream) -> None:
    """Run a FastStream service app (registered with ``observe``) until SIGINT or SIGTERM,
    with its logs, traces, metrics and health endpoints."""
    observed = _OBSERVED[app]
    setup_process(observed.service)
    broker = app.broker
    assert broker is not None

    async def kafka_ready() -> str | None:
        # The broker's own connection (describe_cluster), not a second client per probe.
        return None if await broker.ping(2.0) else "Kafka broker does not answer"

    observer = Observer(observed.service, {"kafka": kafka_ready, **observed.checks},
                        lambda: [getattr(s, "consumer", None) for s in broker.subscribers],
                        gpu=observed.gpu)

    @app.after_startup
    async def ready() -> None:
        observer.mark_started()

    async def main() -> None:
        await observer.start()
        try:
            await app.run()
        finally:
            await observer.stop()

    asyncio.run(main())
