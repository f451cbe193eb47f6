"""The aggregator service: joins manifests, partial results and rejections into final reports.

Commit order: hold the event in memory, and when a report completes, store it in MinIO,
publish it (acks=all), then commit. A deadline task writes partial reports for videos whose
results are overdue (``join.Aggregator.expire``). State is in memory for now: a crash before a
video's report loses the partial results already committed (exactly-once across crashes is its
own issue).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaMessage

from tiktok_analyzer.aggregator.join import Aggregator
from tiktok_analyzer.shared.blobs import MinioBlobStore
from tiktok_analyzer.shared.events import AggregatorInput
from tiktok_analyzer.shared.kafka import adapter_for, decode_or_deadletter, make_broker, publish
from tiktok_analyzer.shared.report import FinalReport
from tiktok_analyzer.shared.service import run
from tiktok_analyzer.shared.settings import AggregatorSettings, StorageSettings
from tiktok_analyzer.shared.status import Stage, StageRecord, StatusBoard, ThrottledStatus
from tiktok_analyzer.shared.topics import AGGREGATOR_IN, REPORTS

log = logging.getLogger(__name__)
broker = make_broker()
app = FastStream(broker)
inputs = adapter_for(AggregatorInput)
GROUP = "tiktok-aggregator"
settings = AggregatorSettings()
aggregator = Aggregator(settings.deadline_s, settings.late_window_s)
store: list[MinioBlobStore] = []
board: list[StatusBoard] = []
progress: dict[str, ThrottledStatus] = {}


tasks: list[asyncio.Task[None]] = []


@app.on_startup
async def connect_store() -> None:
    store.append(MinioBlobStore.from_settings())
    board.append(StatusBoard(store[0], StorageSettings().work_bucket))


@app.after_startup
async def start_deadlines() -> None:
    tasks.append(asyncio.create_task(check_deadlines(), name="deadlines"))


@app.on_shutdown
async def stop_deadlines() -> None:
    for task in tasks:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


async def emit(report: FinalReport) -> None:
    await asyncio.to_thread(store_report, report)
    await publish(broker, report, REPORTS)
    await asyncio.to_thread(record_reported, report)
    log.info("report %s v%d: %s %s", report.video_id, report.report_version, report.status,
             report.reason or "")


async def check_deadlines() -> None:
    # Runs on the event loop like the handler, so the two never touch the state at once.
    while True:
        await asyncio.sleep(settings.check_interval_s)
        for report in aggregator.expire():
            await emit(report)


def record_progress(video_id: str) -> None:
    state = aggregator.videos.get(video_id)
    if state is None:
        return
    status = progress.setdefault(video_id, ThrottledStatus(board[0], video_id, "aggregator"))
    held, expected = state.progress()
    status.update(Stage.ANALYZING, progress=held / expected if expected else None,
                  counts={"partial_results": held, "expected": expected})


def record_reported(report: FinalReport) -> None:
    progress.pop(report.video_id, None)
    board[0].record(report.video_id, StageRecord(
        writer="aggregator", stage=Stage.REPORTED, detail=str(report.status), progress=1.0))


def store_report(report: FinalReport) -> None:
    bucket = StorageSettings().report_bucket
    store[0].put(bucket, f"{report.video_id}.json", report.model_dump_json(indent=2).encode(),
                 "application/json")


# NACK_ON_ERROR: the offset is committed only after the handler returned (or dead-lettered
# the message); a failure is redelivered, never skipped.
@broker.subscriber(AGGREGATOR_IN.name, group_id=GROUP,
                   ack_policy=AckPolicy.NACK_ON_ERROR, auto_offset_reset="earliest",
                   max_partition_fetch_bytes=4 * 1024 * 1024)
async def on_input(msg: KafkaMessage) -> None:
    event = await decode_or_deadletter(broker, msg, inputs, group=GROUP)
    if event is None:
        return
    reports = aggregator.handle(event)
    for report in reports:
        await emit(report)
    if not reports:
        await asyncio.to_thread(record_progress, event.video_id)


def main() -> None:
    run(app)


if __name__ == "__main__":
    main()
