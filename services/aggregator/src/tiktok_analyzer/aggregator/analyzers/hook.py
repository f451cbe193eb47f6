"""``hook``: the opening seconds, where a viewer decides to stay: time to the first cut, face,
spoken word and on-screen text, and the motion, sound onset, beats and light of the opening.

A report analyzer: it reads other analyzers' sections, and each field it cannot fill is null
with the reason in ``unavailable`` (``needs analyzer faces (not enabled)``, ...)."""

from __future__ import annotations

import itertools
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from tiktok_analyzer.aggregator.analyzers._timing import CutsSource, cuts, mean_between, motion
from tiktok_analyzer.audio.analyzers.audio_features import AudioFeaturesSummary
from tiktok_analyzer.audio.analyzers.transcript import TranscriptSummary
from tiktok_analyzer.gpu_light.analyzers.color import ColorRecord
from tiktok_analyzer.shared.contracts.results import FrameDetections, Record, StrictSummary
from tiktok_analyzer.shared.runtime.report_analyzers import (
    Derived,
    ReportAnalyzer,
    ReportAnalyzerConfig,
    ReportInputs,
)


class HookConfig(ReportAnalyzerConfig):
    kind: Literal["hook"] = "hook"
    window_s: float = Field(default=3.0, gt=0, description="Length of the opening, seconds")
    onset_share: float = Field(
        default=0.5, gt=0,
        description="The sound has set in at the first second whose onset strength reaches "
                    "this share of the video's mean")


class FirstSeenView(BaseModel):
    """What ``faces`` and ``ocr`` summaries are read for: when the first one appeared."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    first_seen_s: float | None


class HookSummary(StrictSummary):
    window_s: float
    first_cut_s: float | None = Field(default=None, description="First shot change, seconds")
    cuts: int | None = Field(default=None, description="Shot changes inside the window")
    cuts_from: CutsSource | None = Field(
        default=None, description="`shots` (the analyzer) or `sampler` (the manifest's shots)")
    first_face_s: float | None = Field(default=None, description="First face (faces)")
    first_text_s: float | None = Field(default=None, description="First on-screen text (ocr)")
    first_word_s: float | None = Field(default=None, description="First spoken word (transcript)")
    motion: float | None = Field(
        default=None, description="Mean motion intensity inside the window (motion)")
    motion_vs_video: float | None = Field(
        default=None, description="The window's mean motion over the video's; above 1: a busier "
                                  "opening than the rest")
    sound_onset_s: float | None = Field(
        default=None, description="When the sound sets in: the first second whose onset "
                                  "strength reaches `onset_share` of the video's mean "
                                  "(audio_features); 0 when it starts at once")
    onset_vs_video: float | None = Field(
        default=None, description="The window's mean onset strength over the video's")
    beats: int | None = Field(default=None, description="Musical beats inside the window")
    brightness: float | None = Field(default=None, description="Mean brightness 0..1 (color)")
    brightness_change: float | None = Field(
        default=None, description="Largest brightness jump between consecutive sampled frames "
                                  "inside the window, 0..1 (color)")
    colorfulness: float | None = Field(default=None, description="Mean colourfulness (color)")
    objects: list[str] | None = Field(
        default=None, description="Object classes seen inside the window (objects)")
    unavailable: dict[str, str] = Field(
        default_factory=dict, description="Field -> why it is null (the analyzer it needs)")


class HookAnalyzer(ReportAnalyzer[HookConfig, Record, HookSummary]):
    key: ClassVar[str] = "hook"
    requires: ClassVar[tuple[str, ...]] = (
        "shots", "faces", "ocr", "transcript", "motion", "audio_features", "color", "objects")
    config_model = HookConfig
    summary_model = HookSummary

    def analyze(self, inputs: ReportInputs) -> Derived[Record, HookSummary]:
        window = self.config.window_s
        fields: dict[str, object] = {}
        unavailable: dict[str, str] = {}

        def missing(names: tuple[str, ...], reason: str | None) -> None:
            for name in names:
                unavailable[name] = reason or "not measured"

        found = cuts(inputs)
        if found is None:
            missing(("first_cut_s", "cuts"), "needs a video stream")
        else:
            fields |= {"first_cut_s": found.times[0] if found.times else None,
                       "cuts": sum(1 for t in found.times if t < window),
                       "cuts_from": found.source}

        for name, key in (("first_face_s", "faces"), ("first_text_s", "ocr")):
            seen = inputs.summary(key, FirstSeenView)
            if seen.value is None:
                missing((name,), seen.reason)
            else:
                fields[name] = seen.value.first_seen_s

        transcript = inputs.summary("transcript", TranscriptSummary)
        if transcript.value is None:
            missing(("first_word_s",), transcript.reason)
        else:
            fields["first_word_s"] = transcript.value.first_word_s

        samples = motion(inputs)
        if samples.value is None:
            missing(("motion", "motion_vs_video"), samples.reason)
        else:
            opening = mean_between(samples.value, 0.0, window)
            overall = mean_between(samples.value, 0.0, float("inf"))
            fields["motion"] = opening
            fields["motion_vs_video"] = (round(opening / overall, 3)
                                         if opening is not None and overall else None)

        audio = inputs.summary("audio_features", AudioFeaturesSummary)
        if audio.value is None:
            missing(("sound_onset_s", "onset_vs_video", "beats"), audio.reason)
        else:
            fields |= self._sound(audio.value, unavailable)

        colors = inputs.records("color", ColorRecord)
        light = ("brightness", "brightness_change", "colorfulness")
        if colors.value is None:
            missing(light, colors.reason)
        elif not (opening_frames := [r for r in colors.value if r.t < window]):
            missing(light, "color has no frame inside the window")
        else:
            fields |= _light(opening_frames)

        objects = inputs.records("objects", FrameDetections)
        if objects.value is None:
            missing(("objects",), objects.reason)
        else:
            fields["objects"] = sorted({d.label for r in objects.value if r.t < window
                                        for d in r.detections})

        return Derived(HookSummary.model_validate(
            {"window_s": window, **fields, "unavailable": unavailable}))

    def _sound(self, audio: AudioFeaturesSummary, unavailable: dict[str, str]
               ) -> dict[str, object]:
        window = self.config.window_s
        out: dict[str, object] = {"beats": sum(1 for b in audio.beats if b < window)}
        strengths = [s for _, s in audio.onset_curve]
        overall = sum(strengths) / len(strengths) if strengths else 0.0
        if overall <= 0:
            unavailable["sound_onset_s"] = unavailable["onset_vs_video"] = (
                "audio_features found no onsets (silent audio)")
            return out
        out["sound_onset_s"] = next(
            (t for t, s in audio.onset_curve if s >= self.config.onset_share * overall), None)
        opening = [s for t, s in audio.onset_curve if t < window]
        if opening:
            out["onset_vs_video"] = round(sum(opening) / len(opening) / overall, 3)
        return out


def _light(opening: list[ColorRecord]) -> dict[str, object]:
    count = len(opening)
    jumps = [abs(b.brightness - a.brightness) for a, b in itertools.pairwise(opening)]
    return {"brightness": round(sum(r.brightness for r in opening) / count, 4),
            "colorfulness": round(sum(r.colorfulness for r in opening) / count, 3),
            "brightness_change": round(max(jumps), 4) if jumps else 0.0}
