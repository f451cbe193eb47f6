"""The JSON Schemas in docs/schemas and the OpenAPI document in docs/openapi are generated from
the code and must not drift."""

from __future__ import annotations

import json
from pathlib import Path

from tiktok_analyzer.cli.schemas import SCHEMAS, analyzer_schemas, write_openapi, write_schemas

DOCS = Path(__file__).resolve().parents[1] / "docs" / "schemas"
OPENAPI = DOCS.parent / "openapi" / "ingest.json"


def test_committed_schemas_match_the_models(tmp_path: Path) -> None:
    for generated in write_schemas(tmp_path / "schemas"):
        committed = DOCS.parent / generated.relative_to(tmp_path)
        assert committed.exists(), f"run `tiktok-analyzer schemas` to add {generated.name}"
        assert committed.read_text() == generated.read_text(), (
            f"{generated.name} is stale: run `tiktok-analyzer schemas`")
    assert len(list(DOCS.glob("*.schema.json"))) == len(SCHEMAS)
    assert {p.stem for p in (DOCS / "analyzers").glob("*.json")} == set(analyzer_schemas())


def test_committed_openapi_matches_the_ingest_api(tmp_path: Path) -> None:
    [generated] = write_openapi(tmp_path)
    assert OPENAPI.exists(), "run `tiktok-analyzer schemas` to add docs/openapi/ingest.json"
    assert OPENAPI.read_text() == generated.read_text(), (
        "docs/openapi/ingest.json is stale: run `tiktok-analyzer schemas`")
    paths = json.loads(OPENAPI.read_text())["paths"]
    assert set(paths) == {"/v1/videos", "/v1/videos/{video_id}", "/v1/videos/{video_id}/report",
                          "/v1/videos/{video_id}/report.html", "/v1/videos/{video_id}/video",
                          "/healthz/live", "/healthz/ready"}
