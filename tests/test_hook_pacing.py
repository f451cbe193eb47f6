"""``hook`` and ``pacing``, the report analyzers, on synthesized sections with known answers.

Sections of analyzers that exist are built from their own summary and record types; those of
analyzers still to come (``shots``, ``motion``, ``faces``, ``ocr``) are plain summaries and
records with the fields the report analyzers read, as a report read back without the plugin
holds them. The last test runs ``audio_features`` on a click track and cuts on and off its
clicks, for the share of cuts on the beat end to end.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import pytest

from tiktok_analyzer.aggregator.analyzers.hook import HookAnalyzer, HookSummary
from tiktok_analyzer.aggregator.analyzers.pacing import PacingAnalyzer, PacingSummary, on_beat
from tiktok_analyzer.aggregator.derived import run_report_analyzers
from tiktok_analyzer.audio.analyzers.audio_features import (
    AudioFeaturesAnalyzer,
    AudioFeaturesSummary,
)
from tiktok_analyzer.audio.analyzers.transcript import TranscriptSummary
from tiktok_analyzer.gpu_light.analyzers.color import ColorRecord
from tiktok_analyzer.shared.contracts.events import AnalyzerStatus, Group
from tiktok_analyzer.shared.contracts.report import AnalyzerSection
from tiktok_analyzer.shared.contracts.results import (
    Detection,
    FrameDetections,
    Record,
    Summary,
)
from tiktok_analyzer.shared.errors import ConfigError
from tiktok_analyzer.shared.runtime.analyzers import AudioInput, VideoFacts
from tiktok_analyzer.shared.runtime.report_analyzers import (
    Derived,
    NotApplicable,
    ReportAnalyzer,
    ReportAnalyzerConfig,
    ReportInputs,
    report_order,
)

VIDEO = VideoFacts(duration_s=12.0, shot_starts_s=(0.0, 1.5, 7.0), width=1080, height=1920)
# What these tests take as installed, whatever the repository holds today (faces and ocr are
# still to come): the reasons tell "not installed" from "not enabled" by it.
INSTALLED = frozenset({"shots", "motion", "transcript", "audio_features", "color", "objects"})


def section(key: str, group: Group, summary: Summary | None = None,
            records: list[Record] | None = None,
            status: AnalyzerStatus = AnalyzerStatus.OK, reason: str | None = None
            ) -> AnalyzerSection:
    return AnalyzerSection(analyzer=key, group=group, version="1", status=status, reason=reason,
                           batches=1, elapsed_s=0.0, summary=summary or Summary(),
                           records=records or [])


def color(t: float, brightness: float) -> ColorRecord:
    return ColorRecord(t=t, palette=[], brightness=brightness, saturation=0.5,
                       colorfulness=40.0, warmth=0.0)


def everything() -> dict[str, AnalyzerSection]:
    """A video where every upstream of the hook ran, with known values."""
    motion = [Record(t=float(t), intensity=2.0 if t < 3 else 1.0) for t in range(12)]
    return {
        "shots": section("shots", Group.GPU_LIGHT,
                         Summary(shot_starts_s=[0.0, 0.8, 2.0, 5.0, 9.5])),
        "faces": section("faces", Group.GPU_LIGHT, Summary(first_seen_s=0.5)),
        "ocr": section("ocr", Group.GPU_LIGHT, Summary(first_seen_s=4.0)),
        "transcript": section("transcript", Group.AUDIO,
                              TranscriptSummary(text="hi", first_word_s=0.3)),
        "motion": section("motion", Group.GPU_LIGHT, records=list(motion)),
        "audio_features": section("audio_features", Group.AUDIO, AudioFeaturesSummary(
            beats=[0.5, 1.0, 1.5, 2.0, 2.5, 5.0, 9.5],
            onset_curve=[(0.0, 0.0), (1.0, 0.0), (2.0, 6.0), (3.0, 6.0), (4.0, 6.0)])),
        "color": section("color", Group.GPU_LIGHT, records=[
            color(0.0, 0.1), color(0.5, 0.1), color(1.0, 0.8), color(1.5, 0.75),
            color(2.5, 0.7), color(3.5, 0.0)]),
        "objects": section("objects", Group.GPU_HEAVY, records=[
            FrameDetections(t=1.0, detections=[Detection(label="person", confidence=0.9,
                                                         box=(0.1, 0.1, 0.5, 0.9))]),
            FrameDetections(t=4.0, detections=[Detection(label="dog", confidence=0.9,
                                                         box=(0.1, 0.1, 0.5, 0.9))])]),
    }


def hook_of(sections: dict[str, AnalyzerSection], video: VideoFacts = VIDEO) -> dict[str, Any]:
    derived = HookAnalyzer().analyze(ReportInputs(video, sections, INSTALLED))
    assert isinstance(derived.summary, HookSummary)
    return derived.summary.model_dump()


def test_hook_from_every_upstream() -> None:
    hook = hook_of(everything())
    assert hook["unavailable"] == {}
    assert (hook["first_cut_s"], hook["cuts"], hook["cuts_from"]) == (0.8, 2, "shots")
    assert (hook["first_face_s"], hook["first_text_s"], hook["first_word_s"]) == (0.5, 4.0, 0.3)
    assert hook["motion"] == 2.0
    assert hook["motion_vs_video"] == pytest.approx(2.0 / (15 / 12), abs=1e-3)
    assert (hook["beats"], hook["sound_onset_s"]) == (5, 2.0)
    assert hook["onset_vs_video"] == pytest.approx((6 / 3) / (18 / 5), abs=1e-3)
    assert hook["brightness"] == pytest.approx((0.1 + 0.1 + 0.8 + 0.75 + 0.7) / 5, abs=1e-4)
    assert hook["brightness_change"] == pytest.approx(0.7)  # the cut from dark to light at 1 s
    assert hook["objects"] == ["person"]


def test_hook_says_why_for_each_missing_upstream() -> None:
    sections = {"audio_features": section("audio_features", Group.AUDIO,
                                          status=AnalyzerStatus.SKIPPED,
                                          reason="no audio stream"),
                "color": section("color", Group.GPU_LIGHT, status=AnalyzerStatus.FAILED,
                                 reason="ValueError: boom")}
    hook = hook_of(sections)
    # Without `shots`, the cuts are the sampler's.
    assert (hook["first_cut_s"], hook["cuts"], hook["cuts_from"]) == (1.5, 1, "sampler")
    assert hook["first_face_s"] is None and hook["first_word_s"] is None
    why = hook["unavailable"]
    assert why["first_face_s"] == "needs analyzer faces (not installed)"
    assert why["first_text_s"] == "needs analyzer ocr (not installed)"
    assert why["first_word_s"] == "needs analyzer transcript (not enabled)"
    assert why["motion"] == "needs analyzer motion (not enabled)"
    assert why["beats"] == why["sound_onset_s"] == (
        "analyzer audio_features skipped: no audio stream")
    assert why["brightness_change"] == "analyzer color failed: ValueError: boom"
    assert why["objects"] == "needs analyzer objects (not enabled)"
    assert set(why) == set(HookSummary.model_fields) - {
        "window_s", "first_cut_s", "cuts", "cuts_from", "unavailable"}


def test_hook_tells_a_section_without_the_fields_it_reads() -> None:
    sections = everything()
    sections["faces"] = section("faces", Group.GPU_LIGHT, Summary(faces=3))
    sections["shots"] = section("shots", Group.GPU_LIGHT, Summary(cuts=2))
    hook = hook_of(sections)
    assert hook["unavailable"]["first_face_s"] == "analyzer faces's summary lacks first_seen_s"
    assert hook["cuts_from"] == "sampler"  # shots without shot starts: the manifest's


def test_no_face_is_not_the_same_as_faces_not_measured() -> None:
    sections = everything()
    sections["faces"] = section("faces", Group.GPU_LIGHT, Summary(first_seen_s=None))
    hook = hook_of(sections)
    assert hook["first_face_s"] is None and "first_face_s" not in hook["unavailable"]


def test_hook_of_silent_audio_and_of_an_audio_only_file() -> None:
    sections = everything()
    sections["audio_features"] = section("audio_features", Group.AUDIO, AudioFeaturesSummary(
        onset_curve=[(0.0, 0.0), (1.0, 0.0)]))
    hook = hook_of(sections)
    assert (hook["beats"], hook["sound_onset_s"]) == (0, None)
    assert hook["unavailable"]["sound_onset_s"] == "audio_features found no onsets (silent audio)"
    del sections["shots"]
    audio_only = hook_of(sections, VideoFacts(duration_s=12.0))
    assert audio_only["cuts"] is None
    assert audio_only["unavailable"]["cuts"] == "needs a video stream"
    assert audio_only["first_word_s"] == 0.3


@pytest.mark.parametrize(("cut", "expected"), [
    (2.5, True), (2.58, True), (2.42, True), (2.59, False), (2.41, False), (2.75, False)])
def test_a_cut_is_on_the_beat_within_80_ms(cut: float, expected: bool) -> None:
    assert on_beat(cut, [2.0, 2.5, 3.0], 0.08) is expected


def pacing_of(sections: dict[str, AnalyzerSection], video: VideoFacts = VIDEO
              ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    derived = PacingAnalyzer().analyze(ReportInputs(video, sections, INSTALLED))
    assert isinstance(derived.summary, PacingSummary)
    return derived.summary.model_dump(), [r.model_dump() for r in derived.records]


def test_pacing_windows_and_cuts_on_the_beat() -> None:
    sections = everything()
    # Cuts at 0.8 (0.3 off the nearest beat), 2.0, 5.0 and 9.5 (on beats).
    summary, windows = pacing_of(sections)
    assert [(w["t"], w["end_t"], w["cuts"]) for w in windows] == [
        (0.0, 5.0, 2), (5.0, 10.0, 2), (10.0, 12.0, 0)]
    assert [w["motion"] for w in windows] == [1.6, 1.0, 1.0]
    assert [w["beats"] for w in windows] == [5, 2, 0]
    assert [w["cuts_on_beat"] for w in windows] == [1, 2, 0]
    assert (summary["cuts"], summary["cuts_on_beat"], summary["cuts_on_beat_share"]) == (
        4, 3, 0.75)
    assert (summary["cuts_per_window"], summary["busiest_window_s"]) == (1.333, 0.0)
    assert summary["cuts_from"] == "shots"
    assert summary["unavailable"] == {}


def test_pacing_without_beats_or_motion_says_why() -> None:
    summary, windows = pacing_of({})
    assert [(w["t"], w["cuts"]) for w in windows] == [(0.0, 1), (5.0, 1), (10.0, 0)]
    assert summary["cuts_from"] == "sampler"
    assert summary["cuts_on_beat_share"] is None
    assert summary["unavailable"] == {
        "motion_mean": "needs analyzer motion (not enabled)",
        "cuts_on_beat": "needs analyzer audio_features (not enabled)",
        "cuts_on_beat_share": "needs analyzer audio_features (not enabled)"}
    beatless = {"audio_features": section("audio_features", Group.AUDIO,
                                          AudioFeaturesSummary(beats=[]))}
    summary, _ = pacing_of(beatless)
    assert summary["unavailable"]["cuts_on_beat_share"] == "audio_features found no beats"


def test_pacing_is_skipped_without_a_video_stream() -> None:
    with pytest.raises(NotApplicable, match="needs a video stream"):
        pacing_of({}, VideoFacts(duration_s=12.0))
    sections = run_report_analyzers(VideoFacts(duration_s=12.0), {})
    assert sections["pacing"].status is AnalyzerStatus.SKIPPED
    assert sections["pacing"].reason == "needs a video stream"
    assert sections["hook"].status is AnalyzerStatus.OK


def test_cuts_on_the_beats_of_a_click_track() -> None:
    """``audio_features`` on 10 s of clicks at 120 BPM (every 0.5 s), then cuts on clicks
    and half-way between them: the share on the beat is the share placed on clicks."""
    rate = 16_000
    t = np.arange(10 * rate) / rate
    clicks = (0.6 * np.sin(2 * np.pi * 1000 * t) * ((t % 0.5) < 0.02)).astype(np.float32)
    analyzer = AudioFeaturesAnalyzer()
    records = analyzer.process(AudioInput("v", 0, 0.0, rate, clicks))
    summary = analyzer.summarize(records)
    assert len(summary.beats) >= 15
    cut_times = (0.0, 2.0, 3.5, 4.25, 6.0, 7.75, 8.5)  # 2.0 3.5 6.0 8.5 on clicks; two between
    video = VideoFacts(duration_s=10.0, shot_starts_s=cut_times, width=360, height=640)
    sections = {"audio_features": section("audio_features", Group.AUDIO, summary)}
    result, _ = pacing_of(sections, video)
    assert (result["cuts"], result["cuts_on_beat"]) == (6, 4)
    assert result["cuts_on_beat_share"] == pytest.approx(4 / 6, abs=1e-4)



class _FirstConfig(ReportAnalyzerConfig):
    kind: Literal["first"] = "first"


class _First(ReportAnalyzer[_FirstConfig, Record, Summary]):
    """Reads ``second``."""

    key: ClassVar[str] = "first"
    requires: ClassVar[tuple[str, ...]] = ("second",)
    config_model = _FirstConfig

    def analyze(self, inputs: ReportInputs) -> Derived[Record, Summary]:
        return Derived(Summary())


class _Second(_First):
    key: ClassVar[str] = "second"
    requires: ClassVar[tuple[str, ...]] = ("hook",)


class _SecondInACycle(_First):
    key: ClassVar[str] = "second"
    requires: ClassVar[tuple[str, ...]] = ("first",)


def test_report_analyzers_run_after_those_they_read_and_a_cycle_is_refused() -> None:
    ordered = report_order([_First(), _Second(), HookAnalyzer()])
    assert [a.key for a in ordered] == ["hook", "second", "first"]
    with pytest.raises(ConfigError, match="cycle"):
        report_order([_First(), _SecondInACycle()])
