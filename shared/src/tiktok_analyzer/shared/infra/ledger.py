"""What ingest and the sampler have already done, kept in the work bucket.

- ``<prefix>/arrivals/<arrival key>.json``: ingest has handled this stored object version and
  published its outcome. A repeated notification is answered from here without downloading
  the object again, and the reconciler compares the upload bucket against these keys.
- ``<prefix>/videos/<video id>.json``: the first arrival that produced this video ID. A later
  arrival with the same bytes is a duplicate: it publishes nothing new.
- ``<prefix>/sampled/<video id>.json``: the sampler has published this video's manifest.
  Every VideoAccepted for one video ID lands in one partition of the accepted topic, so one
  sampler sees them in order; this record is how it drops all but the first, even two
  arrivals that raced each other through ingest.

Each record is written after the work it describes is published (acks=all), so a crash in
between repeats the work, never skips it; downstream keeps one result per video and batch.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from tiktok_analyzer.shared.contracts.events import Model, ObjectRef, utc_now
from tiktok_analyzer.shared.errors import PayloadError
from tiktok_analyzer.shared.infra.blobs import BlobStore

Via = Literal["minio", "scraper", "reconciler", "http"]


class ArrivalRecord(Model):
    arrival_key: str
    source: ObjectRef
    via: Via
    video_id: str
    outcome: Literal["accepted", "rejected", "duplicate"]
    recorded_at: datetime = Field(default_factory=utc_now)


class Ledger:
    def __init__(self, store: BlobStore, bucket: str, prefix: str = "ledger") -> None:
        self.store = store
        self.bucket = bucket
        self.prefix = prefix

    def _get(self, key: str) -> ArrivalRecord | None:
        try:
            return ArrivalRecord.model_validate_json(self.store.get(self.bucket, key))
        except PayloadError:
            return None

    def _put(self, key: str, record: ArrivalRecord) -> None:
        self.store.put(self.bucket, key, record.model_dump_json().encode(), "application/json")

    def arrival(self, arrival_key: str) -> ArrivalRecord | None:
        return self._get(f"{self.prefix}/arrivals/{arrival_key}.json")

    def first_arrival_of(self, video_id: str) -> ArrivalRecord | None:
        return self._get(f"{self.prefix}/videos/{video_id}.json")

    def record_arrival(self, record: ArrivalRecord) -> None:
        if record.outcome != "duplicate" and self.first_arrival_of(record.video_id) is None:
            self._put(f"{self.prefix}/videos/{record.video_id}.json", record)
        self._put(f"{self.prefix}/arrivals/{record.arrival_key}.json", record)

    def arrival_keys(self) -> set[str]:
        start = f"{self.prefix}/arrivals/"
        return {k[len(start):].removesuffix(".json")
                for k in self.store.list_keys(self.bucket, start)}

    def sampled(self, video_id: str) -> bool:
        return self.store.exists(self.bucket, f"{self.prefix}/sampled/{video_id}.json")

    def mark_sampled(self, video_id: str, record: Model) -> None:
        self.store.put(self.bucket, f"{self.prefix}/sampled/{video_id}.json",
                       record.model_dump_json().encode(), "application/json")
