"""Logs: one JSON object per line (``TIKTOK_OBS_JSON_LOGS=false`` for plain text).

Every line carries ``timestamp`` (UTC, ISO 8601), ``level``, ``logger``, ``message`` and
``service``; ``trace_id`` and ``span_id`` when a span is current (the message being handled),
``video_id`` when the handler has named its video (``bind_video``), ``exception`` with the
traceback, and FastStream's ``topic``, ``group_id`` and ``message_id`` on its access lines.

FastStream's own loggers print through their own handlers by default; ``configure`` sends them
through the root handler instead, so that every line of a service has one format. The line a
FastStream app logs when ready ("... app started successfully ...") stays in ``message``, where
``ServiceSet.wait_ready`` finds it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

from tiktok_analyzer.shared.settings import ObservabilitySettings

VIDEO_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("video_id", default=None)
_service = "unknown"
# Extra record attributes worth keeping (FastStream puts these on its access log lines).
_EXTRAS = ("topic", "group_id", "message_id")


def bind_video(video_id: str | None) -> None:
    """Name the video the current message is about, for every later line of its handling
    (worker threads started with ``asyncio.to_thread`` inherit it). The Kafka middleware
    clears it when the message is done."""
    VIDEO_ID.set(video_id)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": _service,
        }
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            doc["trace_id"] = format(span_context.trace_id, "032x")
            doc["span_id"] = format(span_context.span_id, "016x")
        video_id = VIDEO_ID.get()
        if video_id:
            doc["video_id"] = video_id
        for key in _EXTRAS:
            value = getattr(record, key, None)
            if value not in (None, ""):
                doc[key] = value
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            doc["exception"] = self.formatStack(record.stack_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    """The services' earlier text format, with the video when one is bound."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        video_id = VIDEO_ID.get()
        return f"{text} [{video_id}]" if video_id and video_id not in text else text


def configure(service: str, settings: ObservabilitySettings | None = None) -> None:
    """Send every log line of this process (FastStream's and uvicorn's included) through one
    handler on stderr, JSON or plain as ``TIKTOK_OBS_JSON_LOGS`` says."""
    global _service
    settings = settings or ObservabilitySettings()
    _service = service
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.json_logs else PlainFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # FastStream's app logger has a handler of its own and does not propagate; the broker's
    # access logger is passed in by ``kafka.make_broker`` so FastStream never builds one.
    for name in ("faststream", "faststream.access", "faststream.access.kafka"):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.propagate = True
