"""MinIO's bucket notifications, as MinIO publishes them to Kafka (S3 event records)."""

from __future__ import annotations

from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field

from tiktok_analyzer.ingest.reconciler import RECONCILER_SOURCE
from tiktok_analyzer.ingest.stage import Arrival
from tiktok_analyzer.shared.contracts.events import ObjectRef
from tiktok_analyzer.shared.contracts.report import REPORT_SUFFIX


class _Loose(BaseModel):
    # MinIO adds fields between releases; we read only what we need.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class MinioObject(_Loose):
    key: str
    size: int | None = None
    etag: str | None = Field(default=None, alias="eTag")
    version_id: str | None = Field(default=None, alias="versionId")


class MinioBucket(_Loose):
    name: str


class MinioS3(_Loose):
    bucket: MinioBucket
    object: MinioObject


class MinioRecord(_Loose):
    event_name: str = Field(alias="eventName")
    event_source: str | None = Field(default=None, alias="eventSource")
    s3: MinioS3


class MinioNotification(_Loose):
    event_name: str = Field(alias="EventName")
    key: str = Field(alias="Key")
    records: list[MinioRecord] = Field(default_factory=list, alias="Records")

    def arrivals(self) -> list[Arrival]:
        """The objects this notification says were created (keys arrive URL-encoded)."""
        return [
            Arrival(
                source=ObjectRef(
                    bucket=r.s3.bucket.name,
                    key=unquote_plus(r.s3.object.key),
                    version_id=r.s3.object.version_id or None,
                    etag=(r.s3.object.etag or "").strip('"') or None,
                    size=r.s3.object.size,
                ),
                via="reconciler" if r.event_source == RECONCILER_SOURCE else "minio",
            )
            for r in self.records
            if r.event_name.startswith("s3:ObjectCreated:")
            and not unquote_plus(r.s3.object.key).endswith(REPORT_SUFFIX)
        ]
