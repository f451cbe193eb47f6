"""The report's summary block: short-form headline metrics from whichever analyzers ran.

The aggregator names no analyzer here. The sampler's manifest gives the shot metrics; every
other field of ``ReportSummary`` and ``HookMetrics`` is filled by the analyzer that declares
it (its ``headline`` / ``hook``, values from its ``report_metrics``). A metric whose analyzer
did not run, or failed, is null, and ``unavailable`` says what it needs, so a consumer can
tell "none" from "not measured".
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tiktok_analyzer.shared.contracts.events import AnalyzerStatus, SamplingManifest
from tiktok_analyzer.shared.contracts.report import AnalyzerSection, HookMetrics, ReportSummary
from tiktok_analyzer.shared.runtime.analyzers import AnyAnalyzer
from tiktok_analyzer.shared.runtime.plugins import provider_of

log = logging.getLogger(__name__)

HOOK_WINDOW_S = 3.0

# Fields the aggregator fills itself (from the manifest), not an analyzer.
_OWN_SUMMARY_FIELDS = frozenset({"duration_s", "shots", "cuts_per_minute", "average_shot_s",
                                 "hook", "unavailable"})
_OWN_HOOK_FIELDS = frozenset({"window_s", "cuts", "first_cut_s"})


@dataclass(frozen=True)
class AnalyzedSection:
    """A report section with the plugin that built it (None when no plugin is installed)."""

    section: AnalyzerSection
    plugin: AnyAnalyzer | None


def _why(sections: Mapping[str, AnalyzedSection], key: str | None, field: str) -> str:
    if key is None:
        return f"no installed analyzer provides {field}"
    held = sections.get(key)
    if held is None:
        return f"needs analyzer {key} (not enabled)"
    section = held.section
    if section.status is AnalyzerStatus.OK:
        return f"analyzer {key} ok, but its report metrics failed (see the aggregator's log)"
    return f"analyzer {key} {section.status}" + (f": {section.reason}" if section.reason else "")


def _metrics(sections: Mapping[str, AnalyzedSection]) -> dict[str, dict[str, Any]]:
    """Each ok analyzer's declared metrics, by analyzer key. A plugin whose metrics raise
    contributes none (its fields are null, ``unavailable`` says it is ok but gave none)."""
    out: dict[str, dict[str, Any]] = {}
    for key, held in sections.items():
        if held.plugin is None or held.section.status is not AnalyzerStatus.OK:
            continue
        try:
            out[key] = held.plugin.report_metrics(held.section.summary, held.section.records,
                                                  HOOK_WINDOW_S)
        except Exception:
            log.exception("analyzer %s: report_metrics failed", key)
    return out


def build_summary(manifest: SamplingManifest,
                  sections: Mapping[str, AnalyzedSection]) -> ReportSummary:
    unavailable: dict[str, str] = {}
    metrics = _metrics(sections)

    def fill(block: str, names: list[str], prefix: str) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in names:
            key = provider_of(block, name)
            if key is not None and key in metrics:
                values[name] = metrics[key].get(f"{prefix}{name}")
            else:
                values[name] = None
                unavailable[f"{prefix}{name}"] = _why(sections, key, name)
        return values

    headline = fill("headline", [f for f in ReportSummary.model_fields
                                 if f not in _OWN_SUMMARY_FIELDS], "")
    hook_values = fill("hook", [f for f in HookMetrics.model_fields
                                if f not in _OWN_HOOK_FIELDS], "hook.")

    cuts = [t for t in manifest.shot_starts_s if 0 < t < HOOK_WINDOW_S]
    hook = HookMetrics(window_s=HOOK_WINDOW_S,
                       cuts=len(cuts) if manifest.media.width else None,
                       first_cut_s=next((t for t in manifest.shot_starts_s if t > 0), None),
                       **hook_values)

    duration = manifest.decoded_duration_s or manifest.media.duration_s
    shots: dict[str, Any] = {}
    if manifest.media.width and manifest.shot_starts_s and duration:
        count = len(manifest.shot_starts_s)
        shots = {"shots": count, "average_shot_s": round(duration / count, 3),
                 "cuts_per_minute": round((count - 1) / duration * 60, 2)}
    else:
        unavailable["cuts_per_minute"] = "needs a video stream"
    return ReportSummary(duration_s=round(duration, 3) if duration else None, hook=hook,
                         unavailable=unavailable, **headline, **shots)
