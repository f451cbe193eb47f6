"""Write JSON Schemas generated from the pydantic models, and the ingest HTTP API's OpenAPI
document generated from its FastAPI app: never edited by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


def analyzer_schemas() -> dict[str, dict[str, Any]]:
    """Per registered analyzer: the schema of its records and of its settings."""
    from tiktok_analyzer.audio import registry as _audio  # noqa: F401 - registers analyzers
    from tiktok_analyzer.gpu_heavy import registry as _heavy  # noqa: F401
    from tiktok_analyzer.gpu_light import registry as _light  # noqa: F401
    from tiktok_analyzer.shared.analyzers import REGISTRY

    return {
        key: {
            "analyzer": key,
            "group": str(cls.group),
            "version": cls.version,
            "requires": list(cls.requires),
            "records": cls.record_model.model_json_schema(mode="serialization"),
            "settings": cls.config_model.model_json_schema(mode="validation"),
        }
        for key, cls in sorted(REGISTRY.items())
    }


def write_analyzer_schemas(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for key, schema in analyzer_schemas().items():
        target = out / f"{key}.json"
        target.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(target)
    return written


def write_schemas(out: Path, openapi_out: Path | None = None) -> list[Path]:
    """The event and report schemas into ``out`` (analyzers' records and settings into
    ``out/analyzers``), and the OpenAPI document into ``openapi_out`` (default: ``openapi``
    next to ``out``, i.e. ``docs/openapi``)."""
    out.mkdir(parents=True, exist_ok=True)
    written = write_analyzer_schemas(out / "analyzers")
    for name, model in SCHEMAS.items():
        target = out / f"{name}.v1.schema.json"
        schema = TypeAdapter(model).json_schema(mode="serialization")
        target.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(target)
    written += write_openapi(openapi_out or out.parent / "openapi")
    return written
