"""The join: partial results keyed by video ID become one final report per video.

Transport-free. ``Aggregator.handle`` takes any aggregator input (manifest, partial result,
rejection) in any order and returns the reports that became complete. Redelivered partial
results replace, never add to, the one already held for the same (group, batch), so a replay
counts nothing twice.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from tiktok_analyzer.aggregator.derived import run_report_analyzers, video_facts
from tiktok_analyzer.aggregator.headline import AnalyzedSection, build_summary
from tiktok_analyzer.shared.contracts.events import (
    AnalyzerRun,
    AnalyzerStatus,
    Group,
    PartialResult,
    SamplingManifest,
    UpstreamInfo,
    VideoAccepted,
    VideoMetadata,
    VideoRejected,
)
from tiktok_analyzer.shared.contracts.report import (
    AnalyzerSection,
    FinalReport,
    ReportStatus,
    TimelineEvent,
)
from tiktok_analyzer.shared.contracts.results import Record, Summary
from tiktok_analyzer.shared.runtime.analyzers import AnyAnalyzer, VideoFacts
from tiktok_analyzer.shared.runtime.plugins import discover

log = logging.getLogger(__name__)

AggregatorEvent = (VideoAccepted | SamplingManifest | PartialResult | VideoRejected
                   | VideoMetadata)


@dataclass
class _VideoState:
    first_seen: float
    accepted: VideoAccepted | None = None
    manifest: SamplingManifest | None = None
    partials: dict[tuple[Group, int], PartialResult] = field(default_factory=dict)
    upstream: UpstreamInfo | None = None
    reported_version: int = 0
    reported_at: float = 0.0

    def progress(self) -> tuple[int, int]:
        """(partial results held, partial results expected); expected is 0 before the manifest."""
        expected = sum(p.batches for p in self.manifest.groups.values()) if self.manifest else 0
        return len(self.partials), expected

    def missing(self) -> list[str]:
        """Who has not answered: the sampler (no manifest yet), or every analyzer of a group
        with batches outstanding (one partial result carries all of a group's analyzers)."""
        if self.manifest is None:
            return ["frame_sampler"]
        return sorted(
            key for group, plan in self.manifest.groups.items()
            if any((group, i) not in self.partials for i in range(plan.batches))
            for key in plan.analyzers)

    def complete(self) -> bool:
        return self.manifest is not None and not self.missing()


class Aggregator:
    """Holds each video until its report can be written.

    Deadlines: ``expire(now)`` writes a ``partial`` report for a video still incomplete
    ``deadline_s`` after its first message. Late results for it are still joined for
    ``late_window_s``; if they complete it, the complete report follows as version 2 (the
    report topic is compacted by video ID, so its latest version is what a new reader sees).
    After that window, or once complete or rejected, a video's later messages are ignored.
    """

    def __init__(self, deadline_s: float = 600.0, late_window_s: float = 3600.0,
                 remember_finished: int = 100_000) -> None:
        self.deadline_s = deadline_s
        self.late_window_s = late_window_s
        self.videos: dict[str, _VideoState] = {}
        # IDs already reported for good, so late duplicates do not start another report.
        self.finished: OrderedDict[str, None] = OrderedDict()
        self.remember_finished = remember_finished

    def handle(self, event: AggregatorEvent, now: float | None = None) -> list[FinalReport]:
        if event.video_id in self.finished:
            return []
        now = time.time() if now is None else now
        state = self.videos.setdefault(event.video_id, _VideoState(first_seen=now))
        if isinstance(event, VideoMetadata):
            # Upstream metadata travels ahead of the outcome on the same partition; it is
            # held until the report is built.
            state.upstream = event.upstream
            return []
        if isinstance(event, VideoRejected):
            # After a partial report (deadline passed) the rejection is that report's next
            # version, so readers of the compacted report topic see it replace the partial one.
            report = rejected_report(event).model_copy(update={
                "upstream": state.upstream, "report_version": state.reported_version + 1})
            return [self._finish(event.video_id, report)]
        if isinstance(event, VideoAccepted):
            state.accepted = event
            return []
        if isinstance(event, SamplingManifest):
            state.manifest = event
        else:
            state.partials[(event.group, event.batch_index)] = event
        if state.complete():
            return [self._finish(event.video_id, self._report(event.video_id, state))]
        return []

    def resume(self, video_id: str, version: int, reported_at: float, first_seen: float
               ) -> None:
        """Hold again a video whose report (``version``, a partial one) another process or
        an earlier run already published: its messages are being re-read, and late results
        may still complete it as the next version within the late window."""
        self.finished.pop(video_id, None)
        self.videos[video_id] = _VideoState(first_seen=first_seen, reported_version=version,
                                            reported_at=reported_at)

    def expire(self, now: float | None = None) -> list[FinalReport]:
        """Partial reports for videos past their deadline; forgets partially reported videos
        whose late window has closed."""
        now = time.time() if now is None else now
        reports: list[FinalReport] = []
        for video_id, state in list(self.videos.items()):
            if state.reported_version == 0 and now - state.first_seen >= self.deadline_s:
                report = self._report(video_id, state)
                if report is None:
                    # Only metadata or results, no source to report yet. Dropped, but not
                    # marked finished: its acceptance or manifest may still come (after an
                    # ingest redelivery, say) and must then start a report, not be ignored.
                    self.videos.pop(video_id, None)
                    continue
                state.reported_version, state.reported_at = report.report_version, now
                reports.append(report)
            elif state.reported_version and now - state.reported_at >= self.late_window_s:
                self._forget(video_id)
        return reports

    def _report(self, video_id: str, state: _VideoState) -> FinalReport | None:
        version = state.reported_version + 1
        update: dict[str, object] = {"upstream": state.upstream, "report_version": version}
        if state.manifest is not None:
            report = build_report(state.manifest, state.partials)
        elif state.accepted is not None:
            report = FinalReport(video_id=video_id, status=ReportStatus.PARTIAL,
                                 source=state.accepted.source, media=state.accepted.media,
                                 warnings=state.accepted.warnings)
        else:
            return None
        if not state.complete():
            missing = state.missing()
            update |= {"status": ReportStatus.PARTIAL, "missing": missing,
                       "reason": f"no results from {', '.join(missing)} within "
                                 f"{self.deadline_s:g} s"}
        return report.model_copy(update=update)

    def _finish(self, video_id: str, report: FinalReport | None) -> FinalReport:
        assert report is not None
        self._forget(video_id)
        return report

    def _forget(self, video_id: str) -> None:
        self.videos.pop(video_id, None)
        self.finished[video_id] = None
        while len(self.finished) > self.remember_finished:
            self.finished.popitem(last=False)


def rejected_report(event: VideoRejected) -> FinalReport:
    return FinalReport(video_id=event.video_id, status=ReportStatus.REJECTED,
                       reason=event.reason, source=event.source)


def report_plugin(key: str) -> AnyAnalyzer | None:
    """The analyzer's plugin, for its record and summary types and its report methods (never
    loaded: the aggregator has no weights). None when it is not installed here."""
    cls = discover().get(key)
    return cls() if cls is not None else None


def _records(plugin: AnyAnalyzer | None, runs: list[AnalyzerRun]) -> list[Record]:
    raw = sorted((rec for r in runs for rec in r.records), key=lambda rec: rec.get("t", 0.0))
    if plugin is None:
        return [Record.model_validate(rec) for rec in raw]
    return plugin.parse_records(raw)


def _section(key: str, group: Group, runs: list[AnalyzerRun], skip_reason: str | None,
             video: VideoFacts) -> AnalyzedSection:
    plugin = report_plugin(key)
    if not runs:
        return AnalyzedSection(AnalyzerSection(
            analyzer=key, group=group, version=None, status=AnalyzerStatus.SKIPPED,
            reason=skip_reason or "no result received", batches=0, elapsed_s=0.0), plugin)
    failed = [r for r in runs if r.status is AnalyzerStatus.FAILED]
    ok = [r for r in runs if r.status is AnalyzerStatus.OK]
    if ok:
        status, reason = AnalyzerStatus.OK, None
        if failed:
            reason = f"failed on {len(failed)} of {len(runs)} batches: {failed[0].reason}"
    elif failed:
        status, reason = AnalyzerStatus.FAILED, failed[0].reason
    else:
        status, reason = AnalyzerStatus.SKIPPED, runs[0].reason
    records: list[Record] = []
    summary: Summary | None = None
    try:
        records = _records(plugin, ok)
        if ok and plugin is not None:
            summary = plugin.summarize_with(records, video)
    except Exception as exc:
        # Records another version of the analyzer wrote, or a summary bug: this analyzer's
        # section fails with the reason; the report and every other section go on.
        log.exception("analyzer %s: records or summary failed", key)
        status, reason, records = (AnalyzerStatus.FAILED,
                                   f"report: {type(exc).__name__}: {exc}"[:2000], [])
    section = AnalyzerSection(
        analyzer=key, group=group, version=runs[0].version, model_id=runs[0].model_id,
        model_revision=runs[0].model_revision, status=status, reason=reason, batches=len(runs),
        elapsed_s=round(sum(r.elapsed_s for r in runs), 4), records=records,
        summary=summary if summary is not None else Summary())
    return AnalyzedSection(section, plugin)


def build_report(manifest: SamplingManifest,
                 partials: dict[tuple[Group, int], PartialResult]) -> FinalReport:
    video = video_facts(manifest)
    sections: dict[str, AnalyzedSection] = {}
    for group, plan in manifest.groups.items():
        runs_by_key: dict[str, list[AnalyzerRun]] = {key: [] for key in plan.analyzers}
        for (g, _), partial in sorted(partials.items(), key=lambda kv: kv[0][1]):
            if g is group:
                for run in partial.runs:
                    runs_by_key.setdefault(run.analyzer, []).append(run)
        for key, runs in runs_by_key.items():
            sections[key] = _section(key, group, runs, plan.skip_reason, video)
    analyzers = {k: s.section for k, s in sections.items()}
    analyzers |= run_report_analyzers(video, analyzers)
    return FinalReport(
        video_id=manifest.video_id, status=ReportStatus.COMPLETE, source=manifest.source,
        failed=sorted(k for k, s in analyzers.items() if s.status is AnalyzerStatus.FAILED),
        media=manifest.media, warnings=manifest.warnings, analyzers=analyzers,
        timeline=_timeline(manifest, sections), summary=build_summary(manifest, sections),
    )


def _timeline(manifest: SamplingManifest,
              sections: dict[str, AnalyzedSection]) -> list[TimelineEvent]:
    events = [TimelineEvent(t=t, analyzer="sampler", label="shot start")
              for t in manifest.shot_starts_s if t > 0]
    for key, held in sections.items():
        if held.plugin is not None and held.section.status is AnalyzerStatus.OK:
            try:
                events += held.plugin.timeline(held.section.summary, held.section.records)
            except Exception:  # one plugin's bug costs its timeline events, not the report
                log.exception("analyzer %s: timeline failed", key)
    return sorted(events, key=lambda e: e.t)
