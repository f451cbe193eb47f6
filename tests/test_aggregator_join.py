"""The join in memory: order independence, replays counted once, rejections."""

from __future__ import annotations

from tiktok_analyzer.aggregator.join import Aggregator
from tiktok_analyzer.shared.contracts.events import (
    AnalyzerRun,
    AnalyzerStatus,
    Group,
    GroupPlan,
    MediaInfo,
    ObjectRef,
    PartialResult,
    SamplingManifest,
    VideoAccepted,
    VideoRejected,
)
from tiktok_analyzer.shared.contracts.report import ReportStatus
from tiktok_analyzer.shared.runtime.plugins import installed_keys
from tiktok_analyzer.shared.runtime.upstream import why_unavailable

REF = ObjectRef(bucket="uploads", key="a.mp4", etag="x")
MEDIA = MediaInfo(container="mp4", duration_s=4.0, size_bytes=10)


def manifest(light_batches: int = 2) -> SamplingManifest:
    return SamplingManifest(
        video_id="v1", source=REF, media=MEDIA, decode_s=0.1,
        groups={
            Group.GPU_HEAVY: GroupPlan(batches=0, analyzers=["objects"],
                                       skip_reason="no decodable input"),
            Group.GPU_LIGHT: GroupPlan(batches=light_batches, analyzers=["quality"]),
            Group.AUDIO: GroupPlan(batches=0, analyzers=["audio_features"],
                                   skip_reason="no audio stream"),
        })


def partial(batch: int, t: float) -> PartialResult:
    record = {"t": t, "width": 360, "height": 640, "sharpness": 1.0, "noise": 0.0,
              "contrast": 0.1, "clipped_dark": 0.0, "clipped_bright": 0.0,
              "black_bars": {"top": 0, "bottom": 0, "left": 0, "right": 0},
              "blockiness": 1.0, "effective_resolution": 360, "combing": 0.0, "letterbox": None}
    run = AnalyzerRun(analyzer="quality", version="2", status=AnalyzerStatus.OK, elapsed_s=0.5,
                      records=[record])
    return PartialResult(video_id="v1", group=Group.GPU_LIGHT, batch_index=batch, runs=[run])


def test_report_completes_whatever_the_arrival_order() -> None:
    for order in ([0, 1, "m"], ["m", 1, 0], [1, "m", 0]):
        agg = Aggregator()
        reports = []
        for item in order:
            event = manifest() if item == "m" else partial(int(item), float(item))
            reports += agg.handle(event)
        assert len(reports) == 1
        report = reports[0]
        assert report.status is ReportStatus.COMPLETE
        assert report.analyzers["quality"].status is AnalyzerStatus.OK
        assert report.analyzers["quality"].batches == 2
        assert [r.t for r in report.analyzers["quality"].records] == [0.0, 1.0]
        # The report's JSON carries each record and the summary whole, not only their base type.
        section = report.model_dump(mode="json")["analyzers"]["quality"]
        assert section["records"] == [partial(i, float(i)).runs[0].records[0] for i in (0, 1)]
        assert section["summary"]["sharpness_mean"] == 1.0
        assert report.analyzers["audio_features"].status is AnalyzerStatus.SKIPPED
        assert report.analyzers["audio_features"].reason == "no audio stream"


def test_redelivered_partials_count_once_and_late_duplicates_start_nothing() -> None:
    agg = Aggregator()
    assert agg.handle(partial(0, 0.0)) == []
    assert agg.handle(partial(0, 0.0)) == []  # redelivery
    (report,) = agg.handle(manifest(light_batches=1))
    assert report.analyzers["quality"].batches == 1
    assert report.analyzers["quality"].elapsed_s == 0.5
    assert agg.handle(partial(0, 0.0)) == []
    assert agg.handle(manifest(light_batches=1)) == []


def test_rejection_becomes_a_rejected_report() -> None:
    (report,) = Aggregator().handle(VideoRejected(video_id="v9", source=REF, reason="empty file"))
    assert report.status is ReportStatus.REJECTED
    assert report.reason == "empty file"
    assert report.analyzers == {}


def test_summary_block_fills_what_ran_and_names_what_did_not() -> None:
    video = MediaInfo(container="mp4", duration_s=12.0, size_bytes=10, width=360, height=640)
    shots = manifest(light_batches=1).model_copy(update={
        "media": video, "decoded_duration_s": 12.0, "shot_starts_s": [0.0, 1.0, 2.5, 6.0]})
    agg = Aggregator()
    agg.handle(shots)
    (report,) = agg.handle(partial(0, 0.5))
    summary = report.summary
    assert summary is not None
    assert (summary.shots, summary.cuts_per_minute, summary.average_shot_s) == (4, 15.0, 3.0)
    assert summary.sharpness_mean == 1.0
    assert summary.tempo_bpm is None
    assert summary.unavailable["tempo_bpm"].startswith("analyzer audio_features skipped")
    assert summary.unavailable["speech_ratio"] == "needs analyzer audio_events (not enabled)"
    assert summary.unavailable["text_screen_share"] == "needs analyzer ocr (not enabled)"
    assert "sharpness_mean" not in summary.unavailable
    assert [e.t for e in report.timeline if e.label == "shot start"] == [1.0, 2.5, 6.0]


def test_report_analyzers_add_their_sections_with_the_reasons_of_what_they_lack() -> None:
    video = MediaInfo(container="mp4", duration_s=12.0, size_bytes=10, width=360, height=640)
    agg = Aggregator()
    agg.handle(manifest(light_batches=1).model_copy(update={
        "media": video, "decoded_duration_s": 12.0, "shot_starts_s": [0.0, 1.0, 2.5, 6.0]}))
    (report,) = agg.handle(partial(0, 0.5))
    hook, pacing = report.analyzers["hook"], report.analyzers["pacing"]
    assert (hook.group, hook.status, pacing.group, pacing.status) == (
        "aggregator", AnalyzerStatus.OK, "aggregator", AnalyzerStatus.OK)
    opening = hook.model_dump(mode="json")["summary"]
    assert (opening["cuts"], opening["first_cut_s"], opening["cuts_from"]) == (2, 1.0, "sampler")
    assert opening["beats"] is None
    assert opening["unavailable"]["beats"] == "analyzer audio_features skipped: no audio stream"
    assert opening["unavailable"]["first_face_s"] == why_unavailable(
        "faces", None, installed="faces" in installed_keys())
    assert opening["unavailable"]["first_word_s"] == "needs analyzer transcript (not enabled)"
    windows = pacing.model_dump(mode="json")["records"]
    assert [(w["t"], w["end_t"], w["cuts"]) for w in windows] == [
        (0.0, 5.0, 2), (5.0, 10.0, 1), (10.0, 12.0, 0)]
    assert report.failed == []


ACCEPTED = VideoAccepted(video_id="v1", source=REF, media=MEDIA)


def test_overdue_results_give_a_partial_report_and_late_ones_a_complete_version_2() -> None:
    agg = Aggregator(deadline_s=10, late_window_s=100)
    assert agg.handle(ACCEPTED, now=0) == []
    assert agg.handle(manifest(light_batches=2), now=1) == []
    assert agg.handle(partial(0, 0.0), now=2) == []
    assert agg.expire(now=9) == []
    (first,) = agg.expire(now=10)
    assert (first.status, first.report_version) == (ReportStatus.PARTIAL, 1)
    assert first.missing == ["quality"]
    assert "quality" in (first.reason or "")
    assert agg.expire(now=11) == []  # one partial report, not one per check
    (second,) = agg.handle(partial(1, 1.0), now=50)
    assert (second.status, second.report_version, second.missing) == (
        ReportStatus.COMPLETE, 2, [])
    assert agg.handle(partial(1, 1.0), now=51) == []


def test_a_video_the_sampler_never_finished_is_reported_from_its_acceptance() -> None:
    agg = Aggregator(deadline_s=10)
    agg.handle(ACCEPTED, now=0)
    (report,) = agg.expire(now=10)
    assert report.status is ReportStatus.PARTIAL
    assert report.missing == ["frame_sampler"]
    assert report.media == MEDIA


def test_after_the_late_window_late_results_start_nothing() -> None:
    agg = Aggregator(deadline_s=10, late_window_s=20)
    agg.handle(manifest(light_batches=2), now=0)
    agg.expire(now=10)
    assert agg.expire(now=30) == []
    assert agg.handle(partial(0, 0.0), now=31) == []
    assert agg.handle(partial(1, 1.0), now=32) == []
    assert "v1" not in agg.videos


def test_records_that_do_not_match_the_record_model_fail_only_that_section() -> None:
    bad = partial(0, 0.0)
    (run,) = bad.runs
    incomplete = {k: v for k, v in run.records[0].items() if k != "width"}
    bad = bad.model_copy(update={"runs": [run.model_copy(update={"records": [incomplete]})]})
    agg = Aggregator()
    agg.handle(manifest(light_batches=1))
    (report,) = agg.handle(bad)
    section = report.analyzers["quality"]
    assert section.status is AnalyzerStatus.FAILED
    assert (section.reason or "").startswith("report: ValidationError")
    assert section.records == []
    assert report.failed == ["quality"]
    assert report.summary is not None
    assert report.summary.sharpness_mean is None
    assert report.summary.unavailable["sharpness_mean"].startswith("analyzer quality failed")
