"""The aggregator service: joins acceptances, manifests, partial results, metadata and
rejections into one final report per video, through crashes.

Exactly once as seen by a reader of ``tiktok.reports``: the input topic is the state's
changelog, and the report topic is the record of what was already said.

- Offsets: per partition, the committed offset never passes the first message of a video that
  is still open (not yet reported). A crash (even SIGKILL) therefore loses no state: the next
  owner of the partition re-reads every open video from its first message and rebuilds it.
- Output: before consuming, and again whenever partitions are assigned, the aggregator reads
  the (compacted) report topic to its end and remembers each video's highest report version.
  A report whose version is already there is not published again; messages of a video
  already reported for good are skipped.

Commit order per report: store in MinIO, publish (acks=all, idempotent producer), remember it,
then advance the committed offset. A crash before the publish re-reads the video and publishes;
a crash after it finds the report on the topic and publishes nothing. The report's HTML page
follows on a worker thread (``report_page``), outside that order: a page lost to a crash is
rendered by ingest from the JSON instead.

Hand-written on aiokafka rather than FastStream: FastStream's manual ack commits the consumer's
whole position, and this needs to commit a chosen offset per partition and react to rebalances.

Observability, by hand where FastStream would do it: each record is handled in a
``<topic> process`` span, a child of the trace context in its headers (the video's trace). A
report's span is a child of the span of the **first message of the video** this process
handled (usually ingest's acceptance copy, else the manifest or a rejection), so it sits in
the video's trace under the message that opened the video, and it links to the span of the
message that completed the video. The publish of the report (through the instrumented broker)
carries that trace on. Received messages and handling time feed FastStream's own metrics
(``metrics.faststream_manager``), so the aggregator's series have the same names as the
other services'.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from faststream.prometheus.types import ProcessingStatus
from opentelemetry.trace import SpanContext
from pydantic import BaseModel, ConfigDict

from tiktok_analyzer.aggregator.join import Aggregator
from tiktok_analyzer.aggregator.report_page import PageWriter
from tiktok_analyzer.shared.contracts.events import AggregatorInput
from tiktok_analyzer.shared.contracts.report import REPORT_SUFFIX, FinalReport, ReportStatus
from tiktok_analyzer.shared.contracts.topics import AGGREGATOR_IN, REPORTS, SERVICES, Service
from tiktok_analyzer.shared.infra.blobs import MinioBlobStore
from tiktok_analyzer.shared.infra.kafka import Poison, adapter_for, dead_letter, decode, make_broker
from tiktok_analyzer.shared.infra.kafka import publish as publish_event
from tiktok_analyzer.shared.infra.outage import KAFKA, retry_async
from tiktok_analyzer.shared.infra.security import kafka_client_kwargs
from tiktok_analyzer.shared.infra.status import Stage, StageRecord, StatusBoard, ThrottledStatus
from tiktok_analyzer.shared.observability import logs, metrics, telemetry
from tiktok_analyzer.shared.observability.observer import Observer, setup_process
from tiktok_analyzer.shared.settings import AggregatorSettings, KafkaSettings, StorageSettings


class _ReportedRef(BaseModel):
    """What the aggregator needs of a report already on the topic: read leniently, so that
    reports of an older schema version (or a newer one) never stop the aggregator starting."""

    model_config = ConfigDict(extra="ignore")

    video_id: str
    report_version: int = 1
    status: ReportStatus
    created_at: datetime | None = None


@dataclass(frozen=True)
class _Known:
    """The latest report of a video on the report topic."""

    version: int
    status: ReportStatus
    at: float  # when it was written (epoch seconds)


log = logging.getLogger(__name__)
SERVICE = "aggregator"
GROUP = SERVICES[Service.AGGREGATOR].consumer_group
READY_LINE = "app started successfully"  # the same line FastStream services log when ready
inputs = adapter_for(AggregatorInput)


@dataclass
class _Record:
    """What ``dead_letter`` reads from a FastStream message, for a raw aiokafka record."""

    raw_message: Any
    body: bytes


@dataclass
class _Partition:
    next_offset: int | None = None  # None until a record of this partition was handled
    first_offset: dict[str, int] = field(default_factory=dict)  # open video -> first message

    def safe_offset(self) -> int | None:
        """The offset it is safe to commit: never past the first message of an open video."""
        return min(self.first_offset.values(), default=self.next_offset)


class AggregatorService:
    def __init__(self) -> None:
        self.kafka = KafkaSettings()
        self.settings = AggregatorSettings()
        self.storage = StorageSettings()
        self.aggregator = Aggregator(self.settings.deadline_s, self.settings.late_window_s)
        # The producer side: reports, dead letters.
        self.broker = make_broker(self.kafka, service=SERVICE)
        self.received = metrics.faststream_manager(SERVICE)
        # The span of the first message of each video held here: the parent of its report.
        self.trace_parents: dict[str, SpanContext] = {}
        self.assigned = False  # an assignment arrived (and reports were re-read) since a revoke
        self.store = MinioBlobStore.from_settings()
        self.board = StatusBoard(self.store, self.storage.work_bucket)
        self.pages = PageWriter(self.store, self.storage.report_bucket)
        self.progress: dict[str, ThrottledStatus] = {}
        self.reported: dict[str, _Known] = {}
        self.partitions: dict[TopicPartition, _Partition] = {}
        self.video_partition: dict[str, TopicPartition] = {}
        self.consumer = AIOKafkaConsumer(
            **kafka_client_kwargs(self.kafka), group_id=GROUP,
            enable_auto_commit=False, auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024)

    # --- what was already reported --------------------------------------------------------

    async def load_reported(self) -> None:
        """Read the report topic from its beginning to its current end (waiting out a broker
        outage: without it, reports already published could be published again)."""
        await retry_async(KAFKA, f"read {REPORTS.name}", self._load_reported)

    async def _load_reported(self) -> None:
        reader = AIOKafkaConsumer(REPORTS.name, **kafka_client_kwargs(self.kafka),
                                  group_id=None, enable_auto_commit=False,
                                  auto_offset_reset="earliest")
        await reader.start()
        try:
            deadline = time.monotonic() + 30
            while not reader.assignment() and time.monotonic() < deadline:
                await asyncio.sleep(0.1)  # partitions are assigned once metadata arrives
            parts = list(reader.assignment())
            if not parts:
                raise RuntimeError(f"cannot read {REPORTS.name}: no partitions after 30 s")
            end = await reader.end_offsets(parts) if parts else {}
            while [tp for tp in parts if await reader.position(tp) < end[tp]]:
                for records in (await reader.getmany(timeout_ms=500)).values():
                    for record in records:
                        self._remember(_ReportedRef.model_validate_json(record.value))
        finally:
            await reader.stop()

    def _remember(self, report: FinalReport | _ReportedRef) -> None:
        known = self.reported.get(report.video_id)
        if known is None or report.report_version > known.version:
            at = report.created_at.timestamp() if report.created_at else time.time()
            self.reported[report.video_id] = _Known(report.report_version, report.status, at)

    def _late_window_open(self, known: _Known, now: float) -> bool:
        return (known.status is ReportStatus.PARTIAL
                and now - known.at < self.settings.late_window_s)

    def _closed(self, video_id: str, now: float) -> bool:
        """Already reported for good and not held here. A partial report stays open for late
        results during the late window, in this process or, after a restart, in the one that
        re-reads the video (its offsets stay uncommitted until the window closes)."""
        known = self.reported.get(video_id)
        return (known is not None and video_id not in self.aggregator.videos
                and not self._late_window_open(known, now))

    # --- reports ----------------------------------------------------------------------------

    async def emit(self, report: FinalReport) -> None:
        known = self.reported.get(report.video_id)
        if known is not None and known.version >= report.report_version:
            log.info("report %s v%d already on the topic: not published again",
                     report.video_id, report.report_version)
            return
        first = self.trace_parents.get(report.video_id)
        current = telemetry.current_span_context()
        parent = telemetry.context_of(first) if first is not None else None
        with telemetry.span(
                "report", parent=parent,
                links=[current] if first is not None and current != first else (),
                attributes={telemetry.VIDEO_ID: report.video_id,
                            "report.status": str(report.status),
                            "report.version": report.report_version}):
            await self._emit(report)
        metrics.report_published(str(report.status))

    async def _emit(self, report: FinalReport) -> None:
        body = report.model_dump_json(indent=2).encode()
        await asyncio.to_thread(self.store.put, self.storage.report_bucket,
                                f"{report.video_id}.json", body, "application/json")
        if report.source.bucket == self.storage.upload_bucket:
            # Next to the video as well; ingest ignores this suffix (see REPORT_SUFFIX).
            await asyncio.to_thread(self.store.put, report.source.bucket,
                                    report.source.key + REPORT_SUFFIX, body, "application/json")
        await publish_event(self.broker, report, REPORTS)
        self.pages.submit(report)  # the HTML page, off this loop and after the publish
        self._remember(report)
        self.progress.pop(report.video_id, None)
        await asyncio.to_thread(self.board.record, report.video_id, StageRecord(
            writer="aggregator", stage=Stage.REPORTED, detail=str(report.status), progress=1.0))
        log.info("report %s v%d: %s %s", report.video_id, report.report_version, report.status,
                 report.reason or "")

    def _release(self, video_id: str) -> None:
        tp = self.video_partition.pop(video_id, None)
        if tp is not None and tp in self.partitions:
            self.partitions[tp].first_offset.pop(video_id, None)

    # --- the loop ---------------------------------------------------------------------------

    async def consume(self, record: Any) -> None:
        """``handle`` one record in a consumer span continuing the trace in its headers,
        counted in FastStream's metrics as FastStream's subscribers count theirs."""
        labels = {"broker": "kafka", "handler": record.topic}
        self.received.add_received_message(**labels)
        started = time.perf_counter()
        status = ProcessingStatus.acked
        video = logs.VIDEO_ID.set(None)
        try:
            with telemetry.consumer_span(record.topic, record.headers, {
                    "messaging.kafka.destination.partition": record.partition,
                    "messaging.kafka.message.offset": record.offset}):
                await self.handle(record)
        except Exception as exc:
            status = ProcessingStatus.error
            self.received.add_received_processed_message_exception(
                exception_type=type(exc).__name__, **labels)
            raise
        finally:
            logs.VIDEO_ID.reset(video)
            self.received.observe_received_processed_message_duration(
                duration=time.perf_counter() - started, **labels)
            self.received.add_received_processed_message(status=status, **labels)

    async def handle(self, record: Any) -> None:
        tp = TopicPartition(record.topic, record.partition)
        part = self.partitions.setdefault(tp, _Partition())
        decoded = decode(record.value, inputs, self.kafka.max_event_bytes)
        if isinstance(decoded, Poison):
            await dead_letter(self.broker, _Record(record, record.value), decoded,  # type: ignore[arg-type]
                              GROUP, self.kafka)
        elif not self._closed(decoded.video_id, time.time()):
            video_id = decoded.video_id
            logs.bind_video(video_id)
            telemetry.set_video(video_id)
            if video_id not in self.trace_parents and (here := telemetry.current_span_context()):
                self.trace_parents[video_id] = here
            if video_id not in self.aggregator.videos:
                part.first_offset.setdefault(video_id, record.offset)
                self.video_partition[video_id] = tp
                known = self.reported.get(video_id)
                if known is not None:  # re-read after a restart, its partial report out
                    self.aggregator.resume(video_id, known.version, known.at,
                                           first_seen=record.timestamp / 1000)
            reports = self.aggregator.handle(decoded, now=record.timestamp / 1000)
            for report in reports:
                await self.emit(report)
                self._release(video_id)
            if not reports:
                self._record_progress(video_id)
        part.next_offset = record.offset + 1

    def _record_progress(self, video_id: str) -> None:
        state = self.aggregator.videos.get(video_id)
        if state is None:
            return
        status = self.progress.setdefault(
            video_id, ThrottledStatus(self.board, video_id, "aggregator"))
        held, expected = state.progress()
        status.update(Stage.ANALYZING, progress=held / expected if expected else None,
                      counts={"partial_results": held, "expected": expected})

    async def commit(self) -> None:
        assigned = self.consumer.assignment()
        offsets = {tp: OffsetAndMetadata(safe, "") for tp, part in self.partitions.items()
                   if tp in assigned and (safe := part.safe_offset()) is not None}
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except Exception as exc:
            # A broker outage or a rebalance: the next loop commits again, and anything not
            # committed is re-read and deduplicated; exiting would help nobody.
            log.warning("commit failed (%s: %s); retried on the next loop",
                        type(exc).__name__, exc)

    async def expire(self) -> None:
        for report in self.aggregator.expire(time.time()):
            await self.emit(report)
            # A partial report keeps the video's offsets until its late window closes, so a
            # restart re-reads it and can still complete it with late results.
        for video_id in [v for v in self.video_partition if v not in self.aggregator.videos]:
            self._release(video_id)  # dropped without a report (nothing to report it from)
        for video_id in [v for v in self.trace_parents if v not in self.aggregator.videos]:
            del self.trace_parents[video_id]

    def drop_partitions(self, revoked: set[TopicPartition]) -> None:
        for video_id, tp in list(self.video_partition.items()):
            if tp in revoked:
                self.aggregator.videos.pop(video_id, None)
                self.video_partition.pop(video_id, None)
                self.trace_parents.pop(video_id, None)
        for tp in revoked:
            self.partitions.pop(tp, None)

    # --- readiness ----------------------------------------------------------------------------

    async def kafka_ready(self) -> str | None:
        return None if await self.broker.ping(2.0) else "Kafka broker does not answer"

    async def consumer_ready(self) -> str | None:
        """Ready once the group gave this instance its partitions (possibly none, when there
        are more instances than partitions) and the reports already published were re-read;
        the open videos are then rebuilt as their messages are re-read."""
        return None if self.assigned else "waiting for a partition assignment"

    async def handle_or_park(self, record: Any) -> None:
        """``consume`` one record. Outages are waited out below (``outage``); anything else
        raised is a bug or a message this code cannot handle: retried a few times with backoff,
        then dead-lettered with the reason, so the partition keeps flowing."""
        for attempt in range(self.settings.handler_attempts):
            try:
                await self.consume(record)
                return
            except Exception as exc:
                failure = exc
                log.exception("handling %s/%d@%d failed (attempt %d of %d)", record.topic,
                              record.partition, record.offset, attempt + 1,
                              self.settings.handler_attempts)
                await asyncio.sleep(min(8.0, 0.5 * 2 ** attempt))
        reason = f"handler failed {self.settings.handler_attempts} times: " \
                 f"{type(failure).__name__}: {failure}"[:500]
        await dead_letter(self.broker, _Record(record, record.value),  # type: ignore[arg-type]
                          Poison("handler_error", reason), GROUP, self.kafka)
        tp = TopicPartition(record.topic, record.partition)
        self.partitions.setdefault(tp, _Partition()).next_offset = record.offset + 1

    async def run(self, stop: asyncio.Event, on_ready: Any = None) -> None:
        await retry_async(KAFKA, "connect", self.broker.connect)
        await self.load_reported()
        self.consumer.subscribe([AGGREGATOR_IN.name], listener=_Rebalance(self))
        await retry_async(KAFKA, "start the consumer", self.consumer.start)
        log.info("aggregator %s (%d videos already reported)", READY_LINE, len(self.reported))
        if on_ready is not None:
            on_ready()
        last_check = 0.0
        try:
            while not stop.is_set():
                batches = await self.consumer.getmany(timeout_ms=500, max_records=200)
                for records in batches.values():
                    for record in records:
                        await self.handle_or_park(record)
                if time.monotonic() - last_check >= self.settings.check_interval_s:
                    last_check = time.monotonic()
                    await self.expire()
                await self.commit()
        finally:
            await self.consumer.stop()
            await self.broker.stop()
            await asyncio.to_thread(self.pages.close)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, service: AggregatorService) -> None:
        self.service = service

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.service.assigned = False
        try:
            await self.service.commit()
        except Exception as exc:  # the group may already have moved on; replay covers it
            log.warning("commit on revoke failed: %s", exc)
        self.service.drop_partitions(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        # Another instance may have reported videos of these partitions meanwhile.
        await self.service.load_reported()
        for tp in assigned:
            self.service.partitions.setdefault(tp, _Partition())
        self.service.assigned = True


def main() -> None:
    setup_process(SERVICE)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        service = AggregatorService()
        observer = Observer(SERVICE, {"kafka": service.kafka_ready,
                                      "consumer": service.consumer_ready},
                            lambda: [service.consumer])
        await observer.start()
        try:
            await service.run(stop, on_ready=observer.mark_started)
        finally:
            await observer.stop()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
