"""What every report must say about every discovered analyzer, whoever built it (the
one-process ``analyze`` or the Kafka pipeline), on a store with no weights."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tiktok_analyzer.shared.runtime.plugins import discover, discover_report


def check_sections_without_weights(sections: Mapping[str, Mapping[str, Any]]) -> None:
    """Every analyzer enabled by default has a section; weight-bearing ones say ``skipped``
    with their pull command (never random output), weight-free ones are ``ok``; so are the
    report analyzers the aggregator runs over them."""
    plugins = discover()
    report_analyzers = set(discover_report())
    assert set(sections) == {k for k, cls in plugins.items() if cls.enabled_by_default} | (
        report_analyzers)
    for key, section in sections.items():
        if key in report_analyzers:
            assert section["status"] == "ok", (key, section["reason"])
            continue
        entry = plugins[key].model_entry
        if entry is not None:
            assert section["status"] == "skipped", (key, section["reason"])
            assert f"tiktok-analyzer models pull {entry}" in section["reason"], key
        else:
            assert section["status"] == "ok", (key, section["reason"])
            assert isinstance(section["summary"], dict), key
