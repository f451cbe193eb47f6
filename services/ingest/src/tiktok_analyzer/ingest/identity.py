"""Two identities: a video's, from its bytes, and an arrival's, from where it was stored.

- **Video ID** = ``"v"`` + the first 24 hex digits of the SHA-256 of the file's bytes. The same
  bytes are the same video however they arrive: a repeated notification, an identical
  re-upload under another key or version, a scraper event and a bucket notification for one
  object. One video ID means one report.
- **Arrival key** = SHA-256 of bucket, key, version ID and ETag. It names one stored object
  version, so a repeated notification for it is recognised without downloading anything
  again, and the reconciler can tell which stored objects ingest has already seen.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tiktok_analyzer.shared.contracts.events import ObjectRef


def video_id_for_digest(sha256_hex: str) -> str:
    return "v" + sha256_hex[:24]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def video_id_for_file(path: Path) -> str:
    return video_id_for_digest(file_sha256(path))


def arrival_key(ref: ObjectRef) -> str:
    basis = "\x00".join([ref.bucket, ref.key, ref.version_id or "", (ref.etag or "").strip('"')])
    return hashlib.sha256(basis.encode()).hexdigest()


def unreadable_video_id(ref: ObjectRef) -> str:
    """For an object that cannot be read at all (deleted before ingest got to it), the only
    identity left is where it was: derived from the arrival, prefixed so it cannot collide."""
    return "x" + arrival_key(ref)[:24]
