"""What an upstream scraper and a downstream consumer do: upload a video, read its report."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tiktok_analyzer.ingest.identity import video_id_for_file
from tiktok_analyzer.shared.contracts.events import ObjectRef
from tiktok_analyzer.shared.contracts.report import FinalReport
from tiktok_analyzer.shared.contracts.topics import REPORTS
from tiktok_analyzer.shared.infra.blobs import MinioBlobStore
from tiktok_analyzer.shared.infra.security import kafka_client_kwargs
from tiktok_analyzer.shared.settings import StorageSettings


def upload(path: Path, key: str | None = None) -> ObjectRef:
    storage = StorageSettings()
    store = MinioBlobStore.from_settings()
    key = key or path.name
    result = store.client.fput_object(storage.upload_bucket, key, str(path))
    return ObjectRef(bucket=storage.upload_bucket, key=key, version_id=result.version_id,
                     etag=result.etag, size=path.stat().st_size)


async def read_reports(video_ids: set[str], timeout: float,
                       settle_s: float = 0.0) -> dict[str, list[FinalReport]]:
    """Every report for the given videos on the report topic, read from the beginning.
    With ``settle_s``, keeps reading that long after the last one arrived (to catch duplicates).
    """
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(REPORTS.name, **kafka_client_kwargs(),
                                group_id=None, auto_offset_reset="earliest",
                                isolation_level="read_committed", enable_auto_commit=False)
    found: dict[str, list[FinalReport]] = {v: [] for v in video_ids}
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        settle_until: float | None = None
        while time.monotonic() < deadline:
            if settle_until is not None and time.monotonic() > settle_until:
                break
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    report = FinalReport.model_validate_json(record.value)
                    if report.video_id in found:
                        found[report.video_id].append(report)
            if settle_until is None and all(found.values()):
                settle_until = time.monotonic() + settle_s
    finally:
        await consumer.stop()
    return found


async def submit_and_wait(path: Path, key: str | None = None,
                          timeout: float = 300.0) -> FinalReport | None:
    await asyncio.to_thread(upload, path, key)
    video_id = video_id_for_file(path)
    reports = await read_reports({video_id}, timeout)
    return reports[video_id][0] if reports[video_id] else None
