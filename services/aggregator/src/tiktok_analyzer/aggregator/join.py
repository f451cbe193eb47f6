"""The join: partial results keyed by video ID become one final report per video.

Transport-free. ``Aggregator.handle`` takes any aggregator input (manifest, partial result,
rejection) in any order and returns the reports that became complete. Redelivered partial
results replace, never add to, the one already held for the same (group, batch), so a replay
counts nothing twice.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from tiktok_analyzer.aggregator.headline import build_summary
from tiktok_analyzer.shared.events import (
    AnalyzerRun,
    AnalyzerStatus,
    Group,
    PartialResult,
    SamplingManifest,
    UpstreamInfo,
    VideoMetadata,
    VideoRejected,
)
from tiktok_analyzer.shared.report import (
    AnalyzerSection,
    FinalReport,
    ReportStatus,
    TimelineEvent,
)
from tiktok_analyzer.shared.summaries import summarize

AggregatorEvent = SamplingManifest | PartialResult | VideoRejected | VideoMetadata


@dataclass
class _VideoState:
    manifest: SamplingManifest | None = None
    partials: dict[tuple[Group, int], PartialResult] = field(default_factory=dict)
    upstream: UpstreamInfo | None = None

    def progress(self) -> tuple[int, int]:
        """(partial results held, partial results expected); expected is 0 before the manifest."""
        expected = sum(p.batches for p in self.manifest.groups.values()) if self.manifest else 0
        return len(self.partials), expected

    def complete(self) -> bool:
        if self.manifest is None:
            return False
        return all(
            (group, i) in self.partials
            for group, plan in self.manifest.groups.items()
            for i in range(plan.batches)
        )


class Aggregator:
    def __init__(self, remember_finished: int = 100_000) -> None:
        self.videos: dict[str, _VideoState] = {}
        # IDs already reported, so late duplicates do not start a second report.
        self.finished: OrderedDict[str, None] = OrderedDict()
        self.remember_finished = remember_finished

    def handle(self, event: AggregatorEvent) -> list[FinalReport]:
        if event.video_id in self.finished:
            return []
        state = self.videos.setdefault(event.video_id, _VideoState())
        if isinstance(event, VideoMetadata):
            # Upstream metadata travels ahead of the outcome on the same partition; it is
            # held until the report is built. Metadata for a video already reported is dropped.
            state.upstream = event.upstream
            return []
        if isinstance(event, VideoRejected):
            report = rejected_report(event).model_copy(update={"upstream": state.upstream})
            return [self._finish(event.video_id, report)]
        if isinstance(event, SamplingManifest):
            state.manifest = event
        else:
            state.partials[(event.group, event.batch_index)] = event
        if state.complete():
            assert state.manifest is not None
            report = build_report(state.manifest, state.partials)
            return [self._finish(event.video_id,
                                 report.model_copy(update={"upstream": state.upstream}))]
        return []

    def _finish(self, video_id: str, report: FinalReport) -> FinalReport:
        self.videos.pop(video_id, None)
        self.finished[video_id] = None
        while len(self.finished) > self.remember_finished:
            self.finished.popitem(last=False)
        return report


def rejected_report(event: VideoRejected) -> FinalReport:
    return FinalReport(video_id=event.video_id, status=ReportStatus.REJECTED,
                       reason=event.reason, source=event.source)


def _section(key: str, group: Group, runs: list[AnalyzerRun], skip_reason: str | None
             ) -> AnalyzerSection:
    if not runs:
        return AnalyzerSection(analyzer=key, group=group, version=None,
                               status=AnalyzerStatus.SKIPPED,
                               reason=skip_reason or "no result received", batches=0,
                               elapsed_s=0.0)
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
    records = sorted((rec for r in ok for rec in r.records), key=lambda rec: rec.get("t", 0.0))
    return AnalyzerSection(
        analyzer=key, group=group, version=runs[0].version, model_id=runs[0].model_id,
        model_revision=runs[0].model_revision, status=status, reason=reason, batches=len(runs),
        elapsed_s=round(sum(r.elapsed_s for r in runs), 4),
        summary=summarize(key, records) if ok else {}, records=records,
    )


def build_report(manifest: SamplingManifest,
                 partials: dict[tuple[Group, int], PartialResult]) -> FinalReport:
    sections: dict[str, AnalyzerSection] = {}
    for group, plan in manifest.groups.items():
        runs_by_key: dict[str, list[AnalyzerRun]] = {key: [] for key in plan.analyzers}
        for (g, _), partial in sorted(partials.items(), key=lambda kv: kv[0][1]):
            if g is group:
                for run in partial.runs:
                    runs_by_key.setdefault(run.analyzer, []).append(run)
        for key, runs in runs_by_key.items():
            sections[key] = _section(key, group, runs, plan.skip_reason)
    return FinalReport(
        video_id=manifest.video_id, status=ReportStatus.COMPLETE, source=manifest.source,
        media=manifest.media, warnings=manifest.warnings, analyzers=sections,
        timeline=_timeline(manifest, sections), summary=build_summary(manifest, sections),
    )


def _timeline(manifest: SamplingManifest,
              sections: dict[str, AnalyzerSection]) -> list[TimelineEvent]:
    events = [TimelineEvent(t=t, analyzer="sampler", label="shot start")
              for t in manifest.shot_starts_s if t > 0]
    objects = sections.get("objects")
    if objects and objects.status is AnalyzerStatus.OK:
        for label, info in objects.summary.get("classes", {}).items():
            events.append(TimelineEvent(t=info["first_seen_s"], analyzer="objects",
                                        label=f"first {label}"))
    audio = sections.get("audio_features")
    if audio and audio.status is AnalyzerStatus.OK and audio.summary.get("beats"):
        events.append(TimelineEvent(t=audio.summary["beats"][0], analyzer="audio_features",
                                    label="first beat"))
    return sorted(events, key=lambda e: e.t)
