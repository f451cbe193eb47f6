"""Serving a stored video to a browser's player: HTTP range requests over a MinIO object.

Browsers fetch a video in byte ranges and cannot seek without them. Starlette answers ranges
only for files on local disk (``FileResponse``), and the video lives in MinIO, so the one
``Range`` form players send (a single ``bytes=`` range) is parsed here and passed on to
MinIO's ranged GET; anything else gets the whole object, as RFC 9110 allows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_SINGLE_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")
CHUNK_BYTES = 256 * 1024


class UnsatisfiableRange(ValueError):
    """The range lies outside the object (answer 416)."""


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int
    """Inclusive, as in ``Content-Range``."""

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single range asked for, clipped to the object; None for the whole object (no
    header, or a form this does not serve, such as several ranges). Raises
    ``UnsatisfiableRange`` when it starts past the end."""
    if not header:
        return None
    match = _SINGLE_RANGE.match(header)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0:
            raise UnsatisfiableRange(header)
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise UnsatisfiableRange(header)
    return ByteRange(start, end)


def open_object(client: Any, bucket: str, key: str, version_id: str | None,
                byte_range: ByteRange | None) -> Any:
    """MinIO's response for the object (or the range of it), before any byte is read, so that
    a missing object is an error the caller can still answer with a status code."""
    kwargs: dict[str, Any] = {"version_id": version_id}
    if byte_range is not None:
        kwargs.update(offset=byte_range.start, length=byte_range.length)
    return client.get_object(bucket, key, **kwargs)


def chunks(response: Any) -> Iterator[bytes]:
    """The response's bytes; its connection is released when the iteration ends or is
    abandoned (the player went away)."""
    try:
        yield from response.stream(CHUNK_BYTES)
    finally:
        response.close()
        response.release_conn()
