"""Payload storage: frames and audio travel inline when small, else as a reference to a blob.

Kafka's default message limit is about 1 MB and large messages slow every consumer of a
partition, so a payload bigger than ``inline_limit`` is written to the blob store and only its
reference travels. ``docs/payloads.md`` has the measurements behind the default limit.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from tiktok_analyzer.shared.contracts.events import Blob, InlineBlob, ObjectRef, StoredBlob
from tiktok_analyzer.shared.errors import PayloadError
from tiktok_analyzer.shared.infra.outage import MINIO, retry_call

if TYPE_CHECKING:
    import urllib3

    from tiktok_analyzer.shared.settings import StorageSettings

DEFAULT_INLINE_LIMIT = 256 * 1024


class BlobStore(Protocol):
    """The few object-store operations the pipeline needs."""

    def put(self, bucket: str, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, bucket: str, key: str) -> bytes: ...

    def download(self, bucket: str, key: str, path: Path) -> None: ...

    def exists(self, bucket: str, key: str) -> bool: ...

    def stat(self, bucket: str, key: str) -> ObjectRef: ...

    def list_keys(self, bucket: str, prefix: str) -> list[str]: ...


class LocalBlobStore:
    """A folder standing in for the object store in one-process mode: buckets are subfolders."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, bucket: str, key: str) -> Path:
        path = (self.root / bucket / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise PayloadError(f"object key escapes the store: {bucket}/{key}")
        return path

    def put(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        path = self._path(bucket, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def get(self, bucket: str, key: str) -> bytes:
        try:
            return self._path(bucket, key).read_bytes()
        except FileNotFoundError as exc:
            raise PayloadError(f"no object {bucket}/{key}") from exc

    def download(self, bucket: str, key: str, path: Path) -> None:
        path.write_bytes(self.get(bucket, key))

    def exists(self, bucket: str, key: str) -> bool:
        return self._path(bucket, key).is_file()

    def stat(self, bucket: str, key: str) -> ObjectRef:
        path = self._path(bucket, key)
        if not path.is_file():
            raise PayloadError(f"no object {bucket}/{key}")
        return ObjectRef(bucket=bucket, key=key, size=path.stat().st_size)

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        root = self.root / bucket
        if not root.is_dir():
            return []
        keys = (p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        return sorted(k for k in keys if k.startswith(prefix))


class MinioBlobStore:
    """The real object store. The client is thread-safe; one per process is enough.

    Every call waits out a MinIO outage (``outage.retry_call``): a restart of MinIO delays
    work instead of failing it, and readiness names the outage meanwhile."""

    def __init__(self, endpoint: str, access_key: str, secret_key: str, secure: bool,
                 *, http_client: urllib3.PoolManager | None = None) -> None:
        from minio import Minio

        self.client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure,
                            http_client=http_client)

    @classmethod
    def from_settings(cls, storage: StorageSettings | None = None) -> MinioBlobStore:
        """The store every service uses: TLS and credentials from ``StorageSettings``."""
        from tiktok_analyzer.shared.infra.security import minio_http_client
        from tiktok_analyzer.shared.settings import StorageSettings

        s = storage or StorageSettings()
        return cls(s.endpoint, s.access_key, s.secret().get_secret_value(), s.secure,
                   http_client=minio_http_client(s))

    def put(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        retry_call(MINIO, f"put {bucket}/{key}", lambda: self.client.put_object(
            bucket, key, io.BytesIO(data), len(data), content_type=content_type))

    def get(self, bucket: str, key: str) -> bytes:
        from minio.error import S3Error

        def read() -> bytes:
            response = self.client.get_object(bucket, key)
            try:
                return bytes(response.read())
            finally:
                response.close()
                response.release_conn()

        try:
            return retry_call(MINIO, f"get {bucket}/{key}", read)
        except S3Error as exc:
            raise PayloadError(f"cannot read {bucket}/{key}: {exc.code}") from exc

    def download(self, bucket: str, key: str, path: Path) -> None:
        from minio.error import S3Error

        try:
            retry_call(MINIO, f"download {bucket}/{key}",
                       lambda: self.client.fget_object(bucket, key, str(path)))
        except S3Error as exc:
            raise PayloadError(f"cannot download {bucket}/{key}: {exc.code}") from exc

    def exists(self, bucket: str, key: str) -> bool:
        from minio.error import S3Error

        try:
            retry_call(MINIO, f"stat {bucket}/{key}",
                       lambda: self.client.stat_object(bucket, key))
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                return False
            raise
        return True

    def stat(self, bucket: str, key: str) -> ObjectRef:
        from minio.error import S3Error

        try:
            st = retry_call(MINIO, f"stat {bucket}/{key}",
                            lambda: self.client.stat_object(bucket, key))
        except S3Error as exc:
            raise PayloadError(f"cannot read {bucket}/{key}: {exc.code}") from exc
        return ObjectRef(bucket=bucket, key=key, version_id=st.version_id or None,
                         etag=(st.etag or "").strip('"') or None, size=st.size)

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        return retry_call(MINIO, f"list {bucket}/{prefix}", lambda: [
            o.object_name for o in self.client.list_objects(bucket, prefix, recursive=True)
            if o.object_name and not o.is_dir])


class PayloadPacker:
    """Decides per payload whether it travels inline or through the blob store."""

    def __init__(self, store: BlobStore, bucket: str, inline_limit: int = DEFAULT_INLINE_LIMIT):
        self.store = store
        self.bucket = bucket
        self.inline_limit = inline_limit
        self._lock = threading.Lock()
        self.inline_count = 0
        self.stored_count = 0

    def pack(self, data: bytes, key: str, content_type: str) -> Blob:
        if len(data) <= self.inline_limit:
            with self._lock:
                self.inline_count += 1
            return InlineBlob(data=data)
        self.store.put(self.bucket, key, data, content_type)
        with self._lock:
            self.stored_count += 1
        return StoredBlob(bucket=self.bucket, key=key, size=len(data))


def unpack(blob: Blob, store: BlobStore | None) -> bytes:
    if isinstance(blob, InlineBlob):
        return blob.data
    if store is None:
        raise PayloadError(f"payload {blob.bucket}/{blob.key} is stored but no blob store is set")
    data = store.get(blob.bucket, blob.key)
    if len(data) != blob.size:
        raise PayloadError(f"payload {blob.bucket}/{blob.key}: {len(data)} bytes, want {blob.size}")
    return data
