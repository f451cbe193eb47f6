"""``text_speech``: on-screen text against the speech: whether the text is burned-in captions of
what is said (the share of spoken words shown on screen while or near when they are spoken),
how late the captions come (median seconds from a word's start to its text's appearance), and
the on-screen text that is never spoken (titles, calls to action).

A report analyzer over ``ocr``'s text tracks and ``transcript``'s words; without either, its
fields are null and ``unavailable`` says why. Times of text are those of ``ocr``'s sampled
frames (2 per second by default), so the lag is known to about half a second."""

from __future__ import annotations

import difflib
import statistics
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from tiktok_analyzer.audio.analyzers.transcript import TranscriptSegment, Word
from tiktok_analyzer.gpu_light.analyzers._text_tracks import normalise
from tiktok_analyzer.gpu_light.analyzers.ocr import OcrSummary, TextTrack
from tiktok_analyzer.shared.contracts.results import Record, StrictSummary
from tiktok_analyzer.shared.runtime.report_analyzers import (
    Derived,
    ReportAnalyzer,
    ReportAnalyzerConfig,
    ReportInputs,
)


class TextSpeechConfig(ReportAnalyzerConfig):
    kind: Literal["text_speech"] = "text_speech"
    near_s: float = Field(
        default=1.0, ge=0,
        description="A spoken word counts as shown when a track holding it is on screen "
                    "within this many seconds of the word")
    word_similarity: float = Field(
        default=0.8, gt=0, le=1,
        description="Least difflib ratio between a spoken and a read word (OCR misreads)")
    captions_share: float = Field(
        default=0.5, gt=0, le=1,
        description="Share of spoken words shown near their time that makes the text captions")
    spoken_share: float = Field(
        default=0.5, gt=0, le=1,
        description="A track is spoken when at least this share of its words is said anywhere "
                    "in the video; below it, it is listed as unspoken")


class UnspokenText(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    t: float
    end_t: float
    position: str


class TextSpeechSummary(StrictSummary):
    spoken_words: int | None = Field(default=None, description="Words in the transcript")
    shown_words: int | None = Field(
        default=None, description="Spoken words on screen while or near when spoken")
    shown_share: float | None = Field(default=None, description="shown_words / spoken_words")
    burned_in_captions: bool | None = Field(
        default=None, description="shown_share reaches captions_share")
    caption_lag_s: float | None = Field(
        default=None, description="Median of (text appears - its first spoken word starts), "
                                  "over the tracks that show speech; positive: text comes later")
    unspoken: list[UnspokenText] | None = Field(
        default=None, description="On-screen text never spoken (titles, calls to action)")
    unavailable: dict[str, str] = Field(
        default_factory=dict, description="Field -> why it is null (the analyzer it needs)")


def _words(text: str) -> list[str]:
    return normalise(text).split()


def _same(a: str, b: str, threshold: float) -> bool:
    if a == b:
        return True
    # Short words (a, to, 3) must match exactly: one letter off is another word.
    return (min(len(a), len(b)) >= 4
            and difflib.SequenceMatcher(None, a, b).ratio() >= threshold)


class TextSpeechAnalyzer(ReportAnalyzer[TextSpeechConfig, Record, TextSpeechSummary]):
    key: ClassVar[str] = "text_speech"
    requires: ClassVar[tuple[str, ...]] = ("ocr", "transcript")
    config_model = TextSpeechConfig
    summary_model = TextSpeechSummary

    def analyze(self, inputs: ReportInputs) -> Derived[Record, TextSpeechSummary]:
        ocr = inputs.summary("ocr", OcrSummary)
        transcript = inputs.records("transcript", TranscriptSegment)
        why = "; ".join(r for r in (ocr.reason, transcript.reason) if r)
        if ocr.value is None or transcript.value is None:
            fields = [f for f in TextSpeechSummary.model_fields if f != "unavailable"]
            return Derived(TextSpeechSummary(unavailable=dict.fromkeys(fields, why)))
        words = [w for segment in transcript.value for w in segment.words]
        return Derived(self._compare(ocr.value.tracks, words))

    def _compare(self, tracks: list[TextTrack], spoken: list[Word]) -> TextSpeechSummary:
        cfg = self.config
        shown_in: list[int | None] = []  # per spoken word: the track showing it, if any
        for word in spoken:
            token = normalise(word.text)
            shown_in.append(next(
                (i for i, tr in enumerate(tracks)
                 if tr.t - cfg.near_s <= word.end_t and word.t <= tr.end_t + cfg.near_s
                 and any(_same(token, w, cfg.word_similarity) for w in _words(tr.text))),
                None) if token else None)
        lags = []
        for i, track in enumerate(tracks):
            starts = [w.t for w, j in zip(spoken, shown_in, strict=True) if j == i]
            if starts:
                lags.append(track.t - min(starts))
        said = {normalise(w.text) for w in spoken} - {""}
        unspoken = []
        for track in tracks:
            tokens = _words(track.text)
            heard = sum(1 for tok in tokens if any(_same(tok, s, cfg.word_similarity)
                                                   for s in said))
            if tokens and heard / len(tokens) < cfg.spoken_share:
                unspoken.append(UnspokenText(text=track.text, t=track.t, end_t=track.end_t,
                                             position=track.position))
        counted = [j for w, j in zip(spoken, shown_in, strict=True) if normalise(w.text)]
        unavailable: dict[str, str] = {}
        share = None
        if counted:
            share = round(sum(1 for j in counted if j is not None) / len(counted), 4)
        else:
            unavailable |= dict.fromkeys(("shown_share", "burned_in_captions"),
                                         "the transcript has no words")
        if not lags:
            unavailable["caption_lag_s"] = "no on-screen text shows a spoken word"
        return TextSpeechSummary(
            spoken_words=len(counted), shown_words=sum(1 for j in counted if j is not None),
            shown_share=share,
            burned_in_captions=None if share is None else share >= cfg.captions_share,
            caption_lag_s=round(statistics.median(lags), 3) if lags else None,
            unspoken=unspoken, unavailable=unavailable)
