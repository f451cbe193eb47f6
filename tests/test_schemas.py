"""The JSON Schemas in docs/schemas are generated from the models and must not drift."""

from __future__ import annotations

from pathlib import Path

from tiktok_analyzer.cli.schemas import SCHEMAS, write_schemas

DOCS = Path(__file__).resolve().parents[1] / "docs" / "schemas"


def test_committed_schemas_match_the_models(tmp_path: Path) -> None:
    for generated in write_schemas(tmp_path):
        committed = DOCS / generated.name
        assert committed.exists(), f"run `tiktok-analyzer schemas` to add {generated.name}"
        assert committed.read_text() == generated.read_text(), (
            f"{generated.name} is stale: run `tiktok-analyzer schemas`")
    assert len(list(DOCS.glob("*.schema.json"))) == len(SCHEMAS)
