"""Write JSON Schemas generated from the pydantic models, and the ingest HTTP API's OpenAPI
document generated from its FastAPI app: never edited by hand."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import TypeAdapter

from tiktok_analyzer.shared import events
from tiktok_analyzer.shared.report import FinalReport

SCHEMAS = {
    "scraped-video": events.ScrapedVideo,
    "video-metadata": events.VideoMetadata,
    "video-accepted": events.VideoAccepted,
    "video-rejected": events.VideoRejected,
    "frame-batch": events.FrameBatch,
    "audio-chunk": events.AudioChunk,
    "sampling-manifest": events.SamplingManifest,
    "partial-result": events.PartialResult,
    "final-report": FinalReport,
}


def write_openapi(out: Path) -> list[Path]:
    """``<out>/ingest.json``: the ingest HTTP API (``tiktok_analyzer.ingest.http_api``)."""
    from tiktok_analyzer.ingest.http_api import openapi_document

    out.mkdir(parents=True, exist_ok=True)
    target = out / "ingest.json"
    target.write_text(json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n")
    return [target]


def write_schemas(out: Path, openapi_out: Path | None = None) -> list[Path]:
    """The event and report schemas into ``out``, and the OpenAPI document into
    ``openapi_out`` (default: ``openapi`` next to ``out``, i.e. ``docs/openapi``)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in SCHEMAS.items():
        target = out / f"{name}.v1.schema.json"
        schema = TypeAdapter(model).json_schema(mode="serialization")
        target.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(target)
    written += write_openapi(openapi_out or out.parent / "openapi")
    return written
