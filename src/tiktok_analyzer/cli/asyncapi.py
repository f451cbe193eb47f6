"""The ingest service's AsyncAPI document: FastStream builds it from the running app's broker
(servers, channels, operations); the payload schemas are then filled in from our pydantic models.

Why the second step: handlers take the raw message and validate it themselves (so that a bad
message goes to the dead-letter topic instead of blocking its partition), which leaves
FastStream nothing to infer the payload type from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from tiktok_analyzer.shared.contracts import events
from tiktok_analyzer.shared.contracts.topics import AGGREGATOR_IN, SCRAPED, UPLOADS, VIDEOS, Topic

# The example lives once, in the model's JSON schema extras.
SCRAPED_EXAMPLE: dict[str, Any] = (
    events.ScrapedVideo.model_json_schema()["examples"][0])


def _schema(model: Any, components: dict[str, Any]) -> dict[str, Any]:
    schema = TypeAdapter(model).json_schema(mode="serialization",
                                            ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    return schema


def _message(name: str, model: Any, components: dict[str, Any], summary: str,
             example: dict[str, Any] | None = None) -> dict[str, Any]:
    components[name] = _schema(model, components)
    message: dict[str, Any] = {"name": name, "title": name, "summary": summary,
                               "contentType": "application/json",
                               "payload": {"$ref": f"#/components/schemas/{name}"}}
    if example is not None:
        message["examples"] = [{"name": "example", "payload": example}]
    return message


def _channel(topic: Topic, message_name: str) -> dict[str, Any]:
    return {"address": topic.name, "description": topic.purpose,
            "servers": [{"$ref": "#/servers/development"}],
            "messages": {message_name: {"$ref": f"#/components/messages/{message_name}"}},
            "bindings": {"kafka": {"topic": topic.name, "partitions": topic.partitions,
                                   "bindingVersion": "0.4.0"}}}


def _channel_id(topic: Topic) -> str:
    return topic.name.removeprefix("tiktok.").replace(".", "_")


def ingest_asyncapi() -> dict[str, Any]:
    from faststream.specification import AsyncAPI

    from tiktok_analyzer.ingest.app import broker
    from tiktok_analyzer.ingest.notifications import MinioNotification

    doc: dict[str, Any] = AsyncAPI(
        broker, title="tiktok-analyzer ingest", version="1",
        description="Ways in to the pipeline (MinIO notifications and scraper events) and what "
                    "ingest emits for each stored video.",
    ).to_specification().to_jsonable()
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {
        "ScrapedVideo": _message("ScrapedVideo", events.ScrapedVideo, schemas,
                                 "A scraper announces a stored video and its metadata. Key: "
                                 "bucket/key.", SCRAPED_EXAMPLE),
        "MinioNotification": _message("MinioNotification", MinioNotification, schemas,
                                      "MinIO's S3 event (only the fields ingest reads)."),
        "VideoAccepted": _message("VideoAccepted", events.VideoAccepted, schemas,
                                  "The gate accepted the file. Key: video_id."),
        "IngestToAggregator": _message(
            "IngestToAggregator",
            events.VideoAccepted | events.VideoRejected | events.VideoMetadata, schemas,
            "A copy of the acceptance (starts the video's deadline), a rejection (the video's "
            "only outcome), or upstream metadata. Key: video_id."),
    }
    receive = {SCRAPED.name: "ScrapedVideo", UPLOADS.name: "MinioNotification"}
    for channel in doc["channels"].values():
        name = receive[channel["address"]]
        channel["messages"] = {name: {"$ref": f"#/components/messages/{name}"}}
    for operation_id, operation in doc["operations"].items():
        channel = doc["channels"][operation_id]
        operation["messages"] = [{"$ref": f"#/channels/{operation_id}/messages/{name}"}
                                 for name in channel["messages"]]
    for topic, name in ((VIDEOS, "VideoAccepted"), (AGGREGATOR_IN, "IngestToAggregator")):
        channel_id = _channel_id(topic)
        doc["channels"][channel_id] = _channel(topic, name)
        doc["operations"][f"send_{channel_id}"] = {
            "action": "send", "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{name}"}]}
    # FastStream's securitySchemes (present under TIKTOK_KAFKA_SECURITY_PROTOCOL=SASL_*) stay:
    # the servers' security refers to them.
    security = doc.get("components", {}).get("securitySchemes")
    doc["components"] = {"messages": messages, "schemas": schemas,
                         **({"securitySchemes": security} if security else {})}
    return doc


def write_asyncapi(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    spec = out / "ingest.asyncapi.json"
    spec.write_text(json.dumps(ingest_asyncapi(), indent=2, sort_keys=True) + "\n")
    example = out / "scraped-video.example.json"
    example.write_text(json.dumps(SCRAPED_EXAMPLE, indent=2) + "\n")
    return [spec, example]
