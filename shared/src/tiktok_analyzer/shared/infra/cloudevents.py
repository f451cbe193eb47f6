"""CloudEvents on Kafka, binary content mode: every event we publish carries the ``ce_*``
headers of the CloudEvents Kafka protocol binding (v1.0), so downstream tools can route,
filter and deduplicate by header without parsing the body; the body stays our JSON event.

Hand-written (a dozen lines) rather than the ``cloudevents`` SDK: the SDK builds whole
envelopes around its own event objects, and all we need is the header mapping.

* ``ce_id`` is the event's logical identity, the same when a replay publishes it again (the
  video, the kind, and the batch, group or report version that make it unique), so a consumer
  can deduplicate on it;
* ``ce_type`` names the kind and its schema version (``tiktok_analyzer.report.final.v2``);
* ``ce_source`` the publishing service; ``ce_subject`` the video ID; ``ce_time`` when it was
  published; ``content-type`` ``application/json``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

SPEC_VERSION = "1.0"
TYPE_PREFIX = "tiktok_analyzer"
# Fields that, with the video and the kind, make one logical event unique.
_IDENTITY_FIELDS = ("group", "batch_index", "report_version")


def event_id(event: Any) -> str:
    kind = getattr(event, "kind", type(event).__name__)
    parts = [str(getattr(event, "video_id", "")), str(kind)]
    parts += [f"{name}={getattr(event, name)}" for name in _IDENTITY_FIELDS
              if getattr(event, name, None) is not None]
    return "/".join(parts)


def event_type(event: Any) -> str:
    kind = getattr(event, "kind", type(event).__name__)
    return f"{TYPE_PREFIX}.{kind}.v{getattr(event, 'schema_version', 1)}"


def headers_for(event: Any, source: str) -> dict[str, str]:
    headers = {
        "ce_specversion": SPEC_VERSION,
        "ce_id": event_id(event),
        "ce_type": event_type(event),
        "ce_source": f"/tiktok-analyzer/{source}",
        "ce_time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "content-type": "application/json",
    }
    video_id = getattr(event, "video_id", None)
    if video_id:
        headers["ce_subject"] = str(video_id)
    return headers


def parse(headers: Iterable[tuple[str, bytes | str | None]]) -> dict[str, str]:
    """The CloudEvents attributes of a Kafka record's headers (``ce_`` prefix dropped)."""
    out: dict[str, str] = {}
    for key, value in headers:
        if key.startswith("ce_") and value is not None:
            out[key[3:]] = value.decode() if isinstance(value, bytes) else value
    return out
