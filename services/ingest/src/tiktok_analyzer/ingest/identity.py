"""A video's identity: the same stored object always maps to the same video ID."""

from __future__ import annotations

import hashlib

from tiktok_analyzer.shared.events import ObjectRef


def video_id_for(ref: ObjectRef) -> str:
    """Derived from bucket, key, version and ETag, so a repeated notification for the same
    object version yields the same ID (and so, downstream, the same single report)."""
    basis = "\x00".join([ref.bucket, ref.key, ref.version_id or "", (ref.etag or "").strip('"')])
    return "v" + hashlib.sha256(basis.encode()).hexdigest()[:24]
