"""The ingest AsyncAPI document and the scraper example are generated and must not drift."""

from __future__ import annotations

import json
from pathlib import Path

from tiktok_analyzer.cli.asyncapi import SCRAPED_EXAMPLE, ingest_asyncapi, write_asyncapi
from tiktok_analyzer.shared.contracts.events import ScrapedVideo
from tiktok_analyzer.shared.contracts.topics import SCRAPED, UPLOADS

DOCS = Path(__file__).resolve().parents[1] / "docs" / "asyncapi"


def test_committed_asyncapi_matches_the_app(tmp_path: Path) -> None:
    for generated in write_asyncapi(tmp_path):
        committed = DOCS / generated.name
        assert committed.exists(), f"run `tiktok-analyzer schemas` to add {generated.name}"
        assert committed.read_text() == generated.read_text(), (
            f"{generated.name} is stale: run `tiktok-analyzer schemas`")


def test_the_example_is_a_valid_scraper_event() -> None:
    event = ScrapedVideo.model_validate_json(json.dumps(SCRAPED_EXAMPLE))
    assert event.object.key and event.upstream.platform_video_id


def test_every_reference_resolves_and_both_ways_in_are_documented() -> None:
    doc = ingest_asyncapi()
    addresses = {c["address"] for c in doc["channels"].values()}
    assert {SCRAPED.name, UPLOADS.name} <= addresses

    def resolve(ref: str) -> object:
        node: object = doc
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(node, dict) and part in node, f"dangling $ref {ref}"
            node = node[part]
        return node

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                resolve(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    scraped = doc["components"]["messages"]["ScrapedVideo"]
    assert scraped["examples"][0]["payload"] == SCRAPED_EXAMPLE
