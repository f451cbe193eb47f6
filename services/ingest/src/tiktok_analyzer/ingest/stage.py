"""The ingest stage: one stored object in, one accepted or rejected event out."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from tiktok_analyzer.ingest.identity import video_id_for
from tiktok_analyzer.ingest.probe import probe_file
from tiktok_analyzer.shared.blobs import BlobStore
from tiktok_analyzer.shared.errors import MediaRejected, PayloadError
from tiktok_analyzer.shared.events import ObjectRef, VideoAccepted, VideoRejected

log = logging.getLogger(__name__)


def gate_local_file(path: Path, ref: ObjectRef) -> VideoAccepted | VideoRejected:
    video_id = video_id_for(ref)
    try:
        media, warnings = probe_file(path)
    except MediaRejected as exc:
        return VideoRejected(video_id=video_id, source=ref, reason=str(exc))
    return VideoAccepted(video_id=video_id, source=ref, media=media, warnings=warnings)


def ingest_object(ref: ObjectRef, store: BlobStore) -> VideoAccepted | VideoRejected:
    """Fetch the object and gate it. A missing object is a rejection, not a crash: the video
    still gets its one final report."""
    with tempfile.TemporaryDirectory(prefix="ingest-") as tmp:
        local = Path(tmp) / "input"
        try:
            store.download(ref.bucket, ref.key, local)
        except PayloadError as exc:
            return VideoRejected(video_id=video_id_for(ref), source=ref, reason=str(exc))
        return gate_local_file(local, ref)
