"""Write JSON Schemas generated from the pydantic models: never edited by hand."""

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


def write_schemas(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in SCHEMAS.items():
        target = out / f"{name}.v1.schema.json"
        schema = TypeAdapter(model).json_schema(mode="serialization")
        target.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(target)
    return written
