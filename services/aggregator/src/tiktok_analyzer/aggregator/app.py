"""The aggregator service: joins manifests, partial results and rejections into final reports.

Commit order: hold the event in memory, and when a report completes, store it in MinIO,
publish it (acks=all), then commit. State is in memory for now: a crash before a video's report
loses the partial results already committed (exactly-once across crashes is its own issue).
"""

from __future__ import annotations

import asyncio
import logging

from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaMessage

from tiktok_analyzer.aggregator.join import Aggregator
from tiktok_analyzer.shared.blobs import MinioBlobStore
from tiktok_analyzer.shared.events import AggregatorInput
from tiktok_analyzer.shared.kafka import adapter_for, decode_or_deadletter, make_broker, publish
from tiktok_analyzer.shared.report import FinalReport
from tiktok_analyzer.shared.service import run
from tiktok_analyzer.shared.settings import StorageSettings
from tiktok_analyzer.shared.status import Stage, StageRecord, StatusBoard, ThrottledStatus
from tiktok_analyzer.shared.topics import AGGREGATOR_IN, REPORTS

log = logging.getLogger(__name__)
broker = make_broker()
app = FastStream(broker)
inputs = adapter_for(AggregatorInput)
aggregator = Aggregator()
store: list[MinioBlobStore] = []
board: list[StatusBoard] = []
progress: dict[str, ThrottledStatus] = {}


@app.on_startup
async def connect_store() -> None:
    store.append(MinioBlobStore.from_settings())
    board.append(StatusBoard(store[0], StorageSettings().work_bucket))


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


@broker.subscriber(AGGREGATOR_IN.name, group_id="tiktok-aggregator",
                   ack_policy=AckPolicy.NACK_ON_ERROR, auto_offset_reset="earliest",
                   max_partition_fetch_bytes=4 * 1024 * 1024)
async def on_input(msg: KafkaMessage) -> None:
    event = await decode_or_deadletter(broker, msg, inputs)
    if event is None:
        return
    reports = aggregator.handle(event)
    for report in reports:
        await asyncio.to_thread(store_report, report)
        await publish(broker, report, REPORTS)
        await asyncio.to_thread(record_reported, report)
        log.info("report %s: %s", report.video_id, report.status)
    if not reports:
        await asyncio.to_thread(record_progress, event.video_id)


def main() -> None:
    run(app)


if __name__ == "__main__":
    main()
