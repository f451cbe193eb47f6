"""The ingest service: stored videos in, one accepted or rejected event per video out.

Two ways in, one identity (``identity.py``): MinIO bucket notifications on ``tiktok.uploads``
and scraper events on ``tiktok.scraper.videos``. A reconciler task re-announces uploads that no
notification brought in, and an HTTP API (``http_api.py``) takes uploads and answers status.

Commit order per message: gate the object, publish its events (acks=all), write the arrival
record to the ledger, then commit the offset. A crash before the record repeats the work on
redelivery, and the sampler's per-video record keeps the repeat from being analyzed twice.

Traces start here: a MinIO notification carries no trace context, so FastStream's consumer span
of the notification is the root of the video's trace, and everything ingest publishes for the
video (inside the ``ingest`` span of ``handle``) carries it on. An upload through the HTTP API
started its trace already: its context is stored with the object (``TRACEPARENT_METADATA``),
and the ``ingest`` span continues it, linked to the notification's span. A notification
naming several objects gives each object a trace of its own, linked the same way. A scraper
event that carries a ``traceparent`` continues the scraper's trace.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Annotated

from faststream import AckPolicy, Context, ContextRepo, FastStream
from faststream.kafka import KafkaMessage
from opentelemetry.context import Context as TraceContext

from tiktok_analyzer.ingest.http_api import (
    API_KEY_PREFIX,
    TRACEPARENT_METADATA,
    check_minio,
    combine_checks,
    create_api,
    serve,
)
from tiktok_analyzer.ingest.notifications import MinioNotification
from tiktok_analyzer.ingest.reconciler import reconcile_pass
from tiktok_analyzer.ingest.stage import Arrival, IngestResult, ingest_arrival
from tiktok_analyzer.shared.contracts.events import ObjectRef, ScrapedVideo, VideoAccepted
from tiktok_analyzer.shared.contracts.topics import (
    AGGREGATOR_IN,
    SCRAPED,
    SERVICES,
    UPLOADS,
    VIDEOS,
    Service,
)
from tiktok_analyzer.shared.infra.blobs import MinioBlobStore
from tiktok_analyzer.shared.infra.kafka import (
    adapter_for,
    decode_or_deadletter,
    make_broker,
    publish,
)
from tiktok_analyzer.shared.infra.ledger import Ledger
from tiktok_analyzer.shared.infra.status import Stage, StageRecord, StatusBoard
from tiktok_analyzer.shared.observability import logs, telemetry
from tiktok_analyzer.shared.service import observe, run
from tiktok_analyzer.shared.settings import GateSettings, IngestSettings, StorageSettings

log = logging.getLogger(__name__)
broker = make_broker(service="ingest")
app = FastStream(broker)
notification = adapter_for(MinioNotification)
scraped = adapter_for(ScrapedVideo)
GROUP = SERVICES[Service.INGEST].consumer_group


@dataclass(frozen=True)
class IngestDeps:
    """What the handlers share, made once at start-up and handed to them through FastStream's
    context (``Annotated[IngestDeps, Context()]``)."""

    store: MinioBlobStore
    ledger: Ledger
    board: StatusBoard
    gate: GateSettings
    settings: IngestSettings
    storage: StorageSettings
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


Deps = Annotated[IngestDeps, Context("deps")]


@app.on_startup
async def connect(context: ContextRepo) -> None:
    storage, settings = StorageSettings(), IngestSettings()
    store = MinioBlobStore.from_settings()
    context.set_global("deps", IngestDeps(
        store=store, ledger=Ledger(store, storage.work_bucket, settings.ledger_prefix),
        board=StatusBoard(store, storage.work_bucket), gate=GateSettings(), settings=settings,
        storage=storage))


async def kafka_ready() -> str | None:
    # The broker's own connection (describe_cluster), not a second client per probe.
    return None if await broker.ping(2.0) else "Kafka broker does not answer"


async def minio_ready() -> str | None:
    deps: IngestDeps | None = app.context.get("deps")
    if deps is None:
        return "not started yet"
    return await check_minio(deps.store, deps.storage.upload_bucket)


def _stop_on_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s failed, stopping ingest: %s", task.get_name(), task.exception())
        app.exit()


@app.after_startup
async def start_background(deps: Deps) -> None:
    deps.tasks.append(asyncio.create_task(reconcile_forever(deps), name="reconciler"))
    if deps.settings.http_enabled:
        api = create_api(deps.store, deps.board, deps.storage, deps.gate,
                         combine_checks({"kafka": kafka_ready, "minio": minio_ready}))
        task = asyncio.create_task(
            serve(api, deps.settings.http_host, deps.settings.http_port), name="http-api")
        task.add_done_callback(_stop_on_failure)
        deps.tasks.append(task)


@app.on_shutdown
async def stop_background(deps: Deps) -> None:
    for task in deps.tasks:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


def _upload_trace(store: MinioBlobStore, src: ObjectRef) -> TraceContext | None:
    """The trace context an HTTP API upload stored with its object, if any."""
    if not src.key.startswith(f"{API_KEY_PREFIX}/"):
        return None
    try:
        stat = store.client.stat_object(src.bucket, src.key, version_id=src.version_id)
    except Exception:  # gone or unreadable: the gate will say so
        return None
    traceparent = (stat.metadata or {}).get(f"x-amz-meta-{TRACEPARENT_METADATA}")
    if not traceparent:
        return None
    parent = telemetry.extract({"traceparent": traceparent})
    return parent if telemetry.span_context_of(parent) else None


async def handle(deps: IngestDeps, arrival: Arrival, own_trace: bool = False) -> None:
    """Gate one arrival and publish its events, in an ``ingest`` span: a child of the
    consumer span; or, linked to it, a child of the HTTP upload's span, or with ``own_trace``
    the root of a new trace."""
    src = arrival.source
    upload = (await asyncio.to_thread(_upload_trace, deps.store, src) if telemetry.enabled()
              else None)
    separate = own_trace or upload is not None
    with telemetry.span(
            "ingest", parent=upload, new_trace=own_trace,
            links=[telemetry.current_span_context()] if separate else (),
            attributes={"ingest.via": arrival.via, "s3.bucket": src.bucket,
                        "s3.key": src.key}):
        await _handle(deps, arrival)


async def _handle(deps: IngestDeps, arrival: Arrival) -> None:
    result: IngestResult = await asyncio.to_thread(
        ingest_arrival, arrival, deps.store, deps.ledger, deps.gate)
    logs.bind_video(result.video_id)
    telemetry.set_video(result.video_id)
    for event in result.events:
        if isinstance(event, VideoAccepted):
            await publish(broker, event, VIDEOS)
        # Everything, acceptance included, goes to the aggregator too: it starts a video's
        # deadline on acceptance, so a video the sampler never finishes still gets a report.
        await publish(broker, event, AGGREGATOR_IN)
    if result.record is not None:
        await asyncio.to_thread(deps.ledger.record_arrival, result.record)
    if result.outcome in ("accepted", "rejected"):
        stage = Stage.ACCEPTED if result.outcome == "accepted" else Stage.REJECTED
        await asyncio.to_thread(deps.board.record, result.video_id, StageRecord(
            writer="ingest", stage=stage, detail=result.detail or None))
    src = arrival.source
    log.info("%s arrival %s/%s -> %s %s %s", arrival.via, src.bucket, src.key, result.video_id,
             result.outcome, result.detail)


# NACK_ON_ERROR on every subscriber: the offset is committed only after the handler finished
# (or dead-lettered the message); a failure is redelivered, never skipped.
@broker.subscriber(UPLOADS.name, group_id=GROUP, ack_policy=AckPolicy.NACK_ON_ERROR,
                   auto_offset_reset="earliest", title="uploads",
                   description="MinIO bucket notifications (S3 event format) for the upload "
                               "bucket, and the reconciler's re-announcements in that format.")
async def on_upload(msg: KafkaMessage, deps: Deps) -> None:
    note = await decode_or_deadletter(broker, msg, notification, group=GROUP)
    if note is None:
        return
    arrivals = note.arrivals()
    for arrival in arrivals:
        await handle(deps, arrival, own_trace=len(arrivals) > 1)


@broker.subscriber(SCRAPED.name, group_id=GROUP, ack_policy=AckPolicy.NACK_ON_ERROR,
                   auto_offset_reset="earliest", title="scraper_videos",
                   description="Scrapers announce a video they stored in MinIO, with its "
                               "platform metadata (ScrapedVideo).")
async def on_scraped(msg: KafkaMessage, deps: Deps) -> None:
    event = await decode_or_deadletter(broker, msg, scraped, group=GROUP)
    if event is None:
        return
    await handle(deps, Arrival(source=event.object, via="scraper", upstream=event.upstream))


async def reconcile_forever(deps: IngestDeps) -> None:
    while True:
        await asyncio.sleep(deps.settings.reconcile_interval_s)
        try:
            await reconcile_pass(broker, deps.store.client, deps.storage.upload_bucket,
                                 deps.ledger, deps.settings.reconcile_grace_s)
        except Exception:  # a failed pass is retried at the next interval
            log.exception("reconciler pass failed")


observe(app, "ingest", {"minio": minio_ready})


def main() -> None:
    run(app)


if __name__ == "__main__":
    main()
