"""Report analyzers, run over a video's sections once they are built.

Each one (``aggregator/analyzers``, ``shared/runtime/report_analyzers``) gets the sections built
so far, its predecessors' included, and the manifest's facts; its output becomes a section
with ``group`` ``aggregator``. As in a group's runner, one failing costs only its own section.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from tiktok_analyzer.shared.contracts.events import AnalyzerStatus, SamplingManifest
from tiktok_analyzer.shared.contracts.report import AnalyzerSection
from tiktok_analyzer.shared.contracts.results import Summary
from tiktok_analyzer.shared.runtime.analyzers import VideoFacts, check_records
from tiktok_analyzer.shared.runtime.plugins import discover_report, installed_keys
from tiktok_analyzer.shared.runtime.report_analyzers import (
    AnyReportAnalyzer,
    NotApplicable,
    ReportInputs,
    report_order,
)

log = logging.getLogger(__name__)


def video_facts(manifest: SamplingManifest) -> VideoFacts:
    return VideoFacts(
        duration_s=manifest.decoded_duration_s or manifest.media.duration_s,
        shot_starts_s=tuple(manifest.shot_starts_s),
        width=manifest.display_width or manifest.media.width,
        height=manifest.display_height or manifest.media.height)


def run_report_analyzers(video: VideoFacts, sections: Mapping[str, AnalyzerSection]
                         ) -> dict[str, AnalyzerSection]:
    """Every installed report analyzer's section, in dependency order."""
    analyzers = report_order([cls() for cls in discover_report().values()])
    installed = installed_keys()
    out: dict[str, AnalyzerSection] = {}
    for analyzer in analyzers:
        inputs = ReportInputs(video=video, sections={**sections, **out}, installed=installed)
        out[analyzer.key] = _run_one(analyzer, inputs)
    return out


def _run_one(analyzer: AnyReportAnalyzer, inputs: ReportInputs) -> AnalyzerSection:
    started = time.perf_counter()
    status, reason = AnalyzerStatus.OK, None
    summary: Summary = Summary()
    records = []
    try:
        derived = analyzer.analyze(inputs)
        if not isinstance(derived.summary, analyzer.summary_model):
            raise TypeError(f"summary is a {type(derived.summary).__name__}, "
                            f"not {analyzer.summary_model.__name__}")
        records = check_records(analyzer.record_model, derived.records)
        summary = derived.summary
    except NotApplicable as exc:
        status, reason = AnalyzerStatus.SKIPPED, str(exc)
    except Exception as exc:
        log.exception("report analyzer %s failed", analyzer.key)
        status, reason = AnalyzerStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
    return AnalyzerSection(
        analyzer=analyzer.key, group="aggregator", version=analyzer.version, status=status,
        reason=reason, batches=1, elapsed_s=round(time.perf_counter() - started, 4),
        summary=summary, records=records)
