"""The report's summary block: short-form headline metrics from whichever analyzers ran.

The aggregator names no analyzer here. The sampler's manifest gives the shot metrics; every
other field of ``ReportSummary`` is filled by the analyzer that declares it (its ``headline``,
values from its ``report_metrics``). A metric whose analyzer did not run, or failed, is null,
and ``unavailable`` says what it needs, so a consumer can tell "none" from "not measured".
The opening seconds and the pacing are report analyzers of their own (``hook``, ``pacing``
in ``aggregator/analyzers``), with sections like any analyzer's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tiktok_analyzer.shared.contracts.events import AnalyzerStatus, SamplingManifest
from tiktok_analyzer.shared.contracts.report import AnalyzerSection, ReportSummary
from tiktok_analyzer.shared.runtime.analyzers import AnyAnalyzer
from tiktok_analyzer.shared.runtime.plugins import provider_of
from tiktok_analyzer.shared.runtime.upstream import why_unavailable

log = logging.getLogger(__name__)

# Fields the aggregator fills itself (from the manifest), not an analyzer.
_OWN_SUMMARY_FIELDS = frozenset({"duration_s", "shots", "cuts_per_minute", "average_shot_s",
                                 "unavailable"})


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
        return why_unavailable(key, None)
    section = held.section
    if section.status is AnalyzerStatus.OK:
        return f"analyzer {key} ok, but its report metrics failed (see the aggregator's log)"
    return why_unavailable(key, section.status, section.reason)


def _metrics(sections: Mapping[str, AnalyzedSection]) -> dict[str, dict[str, Any]]:
    """Each ok analyzer's declared metrics, by analyzer key. A plugin whose metrics raise
    contributes none (its fields are null, ``unavailable`` says it is ok but gave none)."""
    out: dict[str, dict[str, Any]] = {}
    for key, held in sections.items():
        if held.plugin is None or held.section.status is not AnalyzerStatus.OK:
            continue
        try:
            out[key] = held.plugin.report_metrics(held.section.summary, held.section.records)
        except Exception:
            log.exception("analyzer %s: report_metrics failed", key)
    return out


def build_summary(manifest: SamplingManifest,
                  sections: Mapping[str, AnalyzedSection]) -> ReportSummary:
    unavailable: dict[str, str] = {}
    metrics = _metrics(sections)

    headline: dict[str, Any] = {}
    for name in ReportSummary.model_fields:
        if name in _OWN_SUMMARY_FIELDS:
            continue
        key = provider_of(name)
        if key is not None and key in metrics:
            headline[name] = metrics[key].get(name)
        else:
            headline[name] = None
            unavailable[name] = _why(sections, key, name)

    duration = manifest.decoded_duration_s or manifest.media.duration_s
    shots: dict[str, Any] = {}
    if manifest.media.width and manifest.shot_starts_s and duration:
        count = len(manifest.shot_starts_s)
        shots = {"shots": count, "average_shot_s": round(duration / count, 3),
                 "cuts_per_minute": round((count - 1) / duration * 60, 2)}
    else:
        unavailable["cuts_per_minute"] = "needs a video stream"
    return ReportSummary(duration_s=round(duration, 3) if duration else None,
                         unavailable=unavailable, **headline, **shots)
