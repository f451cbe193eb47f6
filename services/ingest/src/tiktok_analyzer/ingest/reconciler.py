"""The reconciler: finds stored uploads that ingest never recorded and feeds them back in.

MinIO delivers bucket notifications at most once to Kafka in practice: an event raised while
the broker is unreachable, or around a MinIO restart, can be lost. Periodically, the upload
bucket's listing is compared with ingest's arrival records; every object older than a grace
period (so that notifications still in flight are not doubled) with no record is re-announced
on the uploads topic in MinIO's own event format, marked as coming from the reconciler. Ingest
then handles it like any notification; should both arrive after all, the ledger and the
sampler's per-video record make the second a no-op.

Each re-announcement starts a trace of its own (a ``reconcile`` span, whose context the
broker's telemetry middleware puts in the message headers), which ingest then continues: one
trace per video, as for a notification.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

from tiktok_analyzer.ingest.identity import arrival_key
from tiktok_analyzer.shared.contracts.events import ObjectRef
from tiktok_analyzer.shared.contracts.report import REPORT_SUFFIX
from tiktok_analyzer.shared.contracts.topics import UPLOADS
from tiktok_analyzer.shared.infra.ledger import Ledger
from tiktok_analyzer.shared.observability import telemetry

log = logging.getLogger(__name__)
RECONCILER_SOURCE = "tiktok-analyzer:reconciler"


def missed_uploads(client: Any, bucket: str, ledger: Ledger, grace_s: float,
                   now: datetime | None = None) -> Iterator[ObjectRef]:
    """Objects in ``bucket`` older than ``grace_s`` that ingest has no arrival record for.
    ``client`` is a ``minio.Minio``."""
    now = now or datetime.now(UTC)
    recorded = ledger.arrival_keys()
    for obj in client.list_objects(bucket, recursive=True):
        if obj.is_dir or obj.object_name is None or obj.object_name.endswith(REPORT_SUFFIX):
            continue
        if obj.last_modified and now - obj.last_modified < timedelta(seconds=grace_s):
            continue
        ref = ObjectRef(bucket=bucket, key=obj.object_name, version_id=obj.version_id or None,
                        etag=(obj.etag or "").strip('"') or None, size=obj.size)
        if arrival_key(ref) not in recorded:
            yield ref


def as_notification(ref: ObjectRef) -> dict[str, Any]:
    """A MinIO ``s3:ObjectCreated:Put`` event for ``ref``, as MinIO would publish it."""
    s3_object: dict[str, Any] = {"key": quote_plus(ref.key), "size": ref.size, "eTag": ref.etag}
    if ref.version_id:
        s3_object["versionId"] = ref.version_id
    return {
        "EventName": "s3:ObjectCreated:Put",
        "Key": f"{ref.bucket}/{ref.key}",
        "Records": [{
            "eventName": "s3:ObjectCreated:Put",
            "eventSource": RECONCILER_SOURCE,
            "s3": {"bucket": {"name": ref.bucket}, "object": s3_object},
        }],
    }


async def reconcile_pass(broker: Any, client: Any, bucket: str, ledger: Ledger,
                         grace_s: float) -> list[ObjectRef]:
    """One pass: list, compare, re-announce on the uploads topic (keyed like MinIO's events,
    ``bucket/key``). Returns what was re-announced. ``broker`` is a started KafkaBroker."""
    missed = await asyncio.to_thread(
        lambda: list(missed_uploads(client, bucket, ledger, grace_s)))
    for ref in missed:
        with telemetry.span("reconcile", new_trace=True,
                            attributes={"s3.bucket": ref.bucket, "s3.key": ref.key}):
            await broker.publish(json.dumps(as_notification(ref)).encode(),
                                 topic=UPLOADS.name, key=f"{ref.bucket}/{ref.key}".encode())
    if missed:
        log.warning("reconciler re-announced %d upload(s) that no notification brought in: %s",
                    len(missed), ", ".join(r.key for r in missed[:10]))
    return missed
