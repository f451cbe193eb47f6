"""Write JSON Schemas generated from the pydantic models, and the ingest HTTP API's OpenAPI
document generated from its FastAPI app: never edited by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from tiktok_analyzer.shared.contracts import events
from tiktok_analyzer.shared.contracts.report import FinalReport

SCHEMAS: dict[str, Any] = {
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
    """Per discovered analyzer: what it is, what it consumes, and the schemas of its records,
    summary and settings (report analyzers, run by the aggregator, included)."""
    from tiktok_analyzer.shared.runtime.plugins import discover, discover_report

    report = {
        key: {
            "analyzer": key,
            "group": "aggregator",
            "version": cls.version,
            "description": cls.description(),
            "enabled_by_default": True,
            "model_entry": None,
            "inputs": cls.describe_inputs(),
            "requires": list(cls.requires),
            "headline": [],
            "records": cls.record_model.model_json_schema(mode="serialization"),
            "summary": cls.summary_model.model_json_schema(mode="serialization"),
            "settings": cls.config_model.model_json_schema(mode="validation"),
        }
        for key, cls in discover_report().items()
    }
    return dict(sorted(report.items())) | {
        key: {
            "analyzer": key,
            "group": str(cls.group),
            "version": cls.version,
            "description": cls.description(),
            "enabled_by_default": cls.enabled_by_default,
            "model_entry": cls.model_entry,
            "inputs": cls.inputs.describe(),
            "requires": list(cls.requires),
            "headline": list(cls.headline),
            "records": cls.record_model.model_json_schema(mode="serialization"),
            "summary": cls.summary_model.model_json_schema(mode="serialization"),
            "settings": cls.config_model.model_json_schema(mode="validation"),
        }
        for key, cls in sorted(discover().items())
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
        version = getattr(model, "model_fields", {}).get("schema_version")
        target = out / f"{name}.v{version.default if version is not None else 1}.schema.json"
        schema = TypeAdapter(model).json_schema(mode="serialization")
        target.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(target)
    written += write_openapi(openapi_out or out.parent / "openapi")
    return written
