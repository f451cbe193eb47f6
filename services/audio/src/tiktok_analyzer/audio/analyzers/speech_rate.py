"""``speech_rate``: how fast and how fluently someone speaks, from the transcript and voice
activity of each chunk.

One record per chunk, covering the part the chunk owns (``t`` .. ``end_t``, video seconds):

* voice activity (always, weight-free: Silero VAD as packaged with faster-whisper, see
  ``vad``): the speech intervals in the owned part and ``speaking_s``, their total. Silero runs
  over the whole window, the overlap giving its recurrent state a lead-in, and its intervals are
  then clipped to the owned part.
* rates (when the ``transcript`` run of the same chunk is ``ok``): words, syllables, and the
  time the words cover with pauses left out (``words_speaking_s``: the words merged into runs
  wherever the gap between them is shorter than ``min_pause_s``), giving words per minute and
  syllables per second, for the chunk and for each transcript segment. The transcript holds only
  the words this chunk owns (see ``transcript``), so nothing is counted twice across chunks.
  When the transcript is not enabled, skipped or failed, the rates are None and
  ``rate_unavailable`` says why; voice activity and pauses are still reported.
* pauses: gaps of at least ``min_pause_s`` between words (``pause_source = "words"``), or, with
  no words to go by, between voice-activity intervals. A gap that spans a chunk boundary belongs
  to neither chunk; ``speech_start_t`` and ``speech_end_t`` (first and last moment of speech in
  the owned part) let the video summary find those too.

Syllables are estimated from the words' spelling: each group of consecutive vowels (a e i o u y,
accented ones included) is one syllable, a final silent "e" is not ("make", but "little"), every
word with a letter or digit has at least one; a CJK, kana or hangul character counts as one
syllable. It is an English-centred heuristic, good to roughly 10% on running English text and
rougher elsewhere; words are faster-whisper's word units, which are single characters in
unspaced scripts.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tiktok_analyzer.audio.analyzers import vad
from tiktok_analyzer.audio.analyzers.transcript import TranscriptSegment, Word
from tiktok_analyzer.shared.contracts.events import AnalyzerStatus, Group
from tiktok_analyzer.shared.contracts.results import SpanRecord, StrictSummary
from tiktok_analyzer.shared.runtime.analyzers import (
    AnalyzerConfig,
    AnalyzerOutcome,
    AudioInput,
    AudioPolicy,
    DerivedAnalyzer,
)

TIME_DECIMALS = 3
_VOWEL_GROUP = re.compile(r"[aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿœāēīōūăĕĭŏŭąęįųůőű]+")


class SpeechRateConfig(AnalyzerConfig):
    kind: Literal["speech_rate"] = "speech_rate"
    min_pause_s: float = Field(
        default=0.3, gt=0, description="A silence between words at least this long is a pause")
    vad_threshold: float = Field(
        default=0.5, gt=0, lt=1, description="Silero speech probability that counts as speech")
    vad_min_speech_s: float = Field(default=0.1, ge=0)
    vad_pad_s: float = Field(default=0.03, ge=0, description="Widening of each speech interval")


# Voice activity and pauses are plain spans in video time: the canonical SpanRecord.
Span = SpanRecord


class Rates(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    word_count: int = Field(ge=0)
    syllable_count: int = Field(ge=0)
    words_speaking_s: float = Field(
        ge=0, description="Time the words cover, pauses (gaps >= min_pause_s) left out")
    words_per_minute: float | None = Field(default=None, ge=0)
    syllables_per_second: float | None = Field(default=None, ge=0)


class SegmentRate(Span, Rates):
    """The rates of one transcript segment."""


class SpeechRateRecord(SpanRecord):
    """One chunk's owned part: ``t`` .. ``end_t``."""

    min_pause_s: float
    speaking_s: float = Field(ge=0, description="Voice activity in the owned part, seconds")
    voice_activity: list[Span]
    transcript: Literal["ok", "skipped", "failed", "not enabled"]
    rate_unavailable: str | None = Field(
        default=None, description="Why words_per_minute is None")
    word_count: int | None = Field(default=None, ge=0)
    syllable_count: int | None = Field(default=None, ge=0)
    words_speaking_s: float | None = Field(default=None, ge=0)
    words_per_minute: float | None = Field(default=None, ge=0)
    syllables_per_second: float | None = Field(default=None, ge=0)
    pause_source: Literal["words", "voice_activity"]
    pauses: list[Span]
    speech_start_t: float | None = Field(default=None, ge=0)
    speech_end_t: float | None = Field(default=None, ge=0)
    segments: list[SegmentRate]


def _is_cjk(ch: str) -> bool:
    name = unicodedata.name(ch, "")
    return name.startswith(("CJK UNIFIED", "CJK COMPATIBILITY IDEOGRAPH", "HIRAGANA",
                            "KATAKANA", "HANGUL"))


def is_word(text: str) -> bool:
    """A transcript word counts when it holds a letter or a digit (not bare punctuation)."""
    return any(ch.isalnum() for ch in text)


def syllables(word: str) -> int:
    """Estimated syllables of one word (see the module docstring)."""
    if not is_word(word):
        return 0
    cjk = sum(1 for ch in word if _is_cjk(ch))
    latin = "".join(ch for ch in word.lower() if ch.isalpha() and not _is_cjk(ch))
    n = len(_VOWEL_GROUP.findall(latin))
    if n > 1 and latin.endswith("e") and not latin.endswith(("le", "ee", "ye")):
        n -= 1
    return max(1, n + cjk)  # "hmm", "42": no vowel letters, still said


def _round(x: float) -> float:
    return round(x, TIME_DECIMALS)


def rates(words: Sequence[Word], min_pause_s: float) -> Rates:
    """Counts and rates of ``words``: the speaking time is that of the runs of words left when
    every gap of at least ``min_pause_s`` is cut out."""
    counted = [w for w in words if is_word(w.text)]
    runs = vad.merge([(w.t, w.end_t) for w in counted], min_pause_s)
    speaking = sum(b - a for a, b in runs)
    n_syll = sum(syllables(w.text) for w in counted)
    return Rates(
        word_count=len(counted), syllable_count=n_syll, words_speaking_s=_round(speaking),
        words_per_minute=round(60 * len(counted) / speaking, 2) if speaking > 0 else None,
        syllables_per_second=round(n_syll / speaking, 3) if speaking > 0 else None)


def _spans(intervals: Sequence[vad.Interval]) -> list[Span]:
    return [Span(t=_round(a), end_t=_round(b)) for a, b in intervals]


class SpeechRateSummary(StrictSummary):
    words_per_minute: float | None = None
    syllables_per_second: float | None = None
    word_count: int | None = None
    words_speaking_s: float | None = None
    speaking_s: float = 0.0
    speaking_ratio: float | None = None
    pause_count: int = 0
    longest_pause_s: float | None = None
    rate_unavailable: str | None = Field(default=None, description="Why the rates are null")


class SpeechRateAnalyzer(DerivedAnalyzer[SpeechRateConfig, AudioInput, SpeechRateRecord,
                                         SpeechRateSummary]):
    key: ClassVar[str] = "speech_rate"
    group: ClassVar[Group] = Group.AUDIO
    version: ClassVar[str] = "1"
    batch_size: ClassVar[int] = 1
    requires: ClassVar[tuple[str, ...]] = ("transcript",)
    inputs = AudioPolicy()
    config_model = SpeechRateConfig
    record_model = SpeechRateRecord
    summary_model = SpeechRateSummary

    @property
    def cfg(self) -> SpeechRateConfig:
        return self.config

    def summarize(self, records: Sequence[SpeechRateRecord]) -> SpeechRateSummary:
        # Rates pool words and speaking time over the chunks that had a transcript, so long
        # chunks weigh more than short ones. Pauses: those inside chunks, plus the silences
        # that span a chunk boundary, which no chunk sees whole: from the last speech of one
        # chunk with speech to the first speech of the next.
        rated = [r for r in records if r.words_speaking_s is not None]
        words = sum(r.word_count or 0 for r in rated)
        syllables = sum(r.syllable_count or 0 for r in rated)
        speaking = sum(r.words_speaking_s or 0.0 for r in rated)
        duration = sum(r.duration_s for r in records)
        voiced = sum(r.speaking_s for r in records)
        pauses = [p.duration_s for r in records for p in r.pauses]
        last_end: float | None = None
        for r in records:
            if r.speech_start_t is None:
                continue
            if last_end is not None and r.speech_start_t - last_end >= r.min_pause_s - 1e-6:
                pauses.append(r.speech_start_t - last_end)
            last_end = r.speech_end_t
        unavailable = Counter(r.rate_unavailable for r in records
                              if r.rate_unavailable and r.words_speaking_s is None)
        return SpeechRateSummary(
            words_per_minute=round(60 * words / speaking, 2) if speaking > 0 else None,
            syllables_per_second=round(syllables / speaking, 3) if speaking > 0 else None,
            word_count=words if rated else None,
            words_speaking_s=round(speaking, 3) if rated else None,
            speaking_s=round(voiced, 3),
            speaking_ratio=round(voiced / duration, 4) if duration > 0 else None,
            pause_count=len(pauses),
            longest_pause_s=round(max(pauses), 3) if pauses else None,
            rate_unavailable=(unavailable.most_common(1)[0][0]
                              if unavailable and not rated else None))

    def warm_up(self) -> None:
        # onnxruntime and the Silero session load on first use; pay for it before a video.
        vad.speech_intervals(np.zeros(vad.VAD_RATE, np.float32), vad.VAD_RATE)

    def voice_activity(self, batch: AudioInput) -> list[vad.Interval]:
        """Speech intervals in the owned part, video seconds, gaps below a pause merged."""
        cfg = self.cfg
        found = vad.speech_intervals(batch.samples, batch.sample_rate,
                                     threshold=cfg.vad_threshold,
                                     min_speech_s=cfg.vad_min_speech_s,
                                     min_silence_s=min(0.1, cfg.min_pause_s),
                                     pad_s=cfg.vad_pad_s)
        end = batch.start_s + len(batch.samples) / batch.sample_rate
        placed = [(batch.start_s + a, batch.start_s + b) for a, b in found]
        return vad.merge(vad.clip(placed, batch.owned_start_s, end), cfg.min_pause_s)

    def derive(self, batch: AudioInput, upstream: Mapping[str, AnalyzerOutcome]
               ) -> list[SpeechRateRecord]:
        cfg = self.cfg
        start = _round(batch.owned_start_s)
        end = _round(batch.start_s + len(batch.samples) / batch.sample_rate)
        voiced = self.voice_activity(batch)
        record: dict[str, Any] = {
            "t": start, "end_t": max(start, end), "min_pause_s": cfg.min_pause_s,
            "speaking_s": _round(sum(b - a for a, b in voiced)),
            "voice_activity": _spans(voiced), "segments": [],
        }
        run = upstream.get("transcript")
        if run is None:
            record |= {"transcript": "not enabled",
                       "rate_unavailable": "transcript not enabled"}
        elif run.status is not AnalyzerStatus.OK:
            record |= {"transcript": str(run.status),
                       "rate_unavailable": f"transcript {run.status}"
                                           + (f": {run.reason}" if run.reason else "")}
        else:
            segments = [TranscriptSegment.model_validate(r.model_dump()) for r in run.records]
            words = sorted((w for s in segments for w in s.words if is_word(w.text)),
                           key=lambda w: (w.t, w.end_t))
            chunk = rates(words, cfg.min_pause_s)
            record |= {"transcript": "ok", **chunk.model_dump(),
                       "segments": [SegmentRate(t=s.t, end_t=s.end_t,
                                                **rates(s.words, cfg.min_pause_s).model_dump())
                                    for s in segments]}
            if chunk.words_per_minute is None:
                record["rate_unavailable"] = (
                    "the transcript has no word timestamps (word_timestamps = false)"
                    if any(s.text and not s.words for s in segments)
                    else "no words in this chunk")
            if words:
                spans = [(w.t, w.end_t) for w in words]
                record |= {"pause_source": "words",
                           "pauses": _spans(vad.gaps(spans, cfg.min_pause_s)),
                           "speech_start_t": words[0].t,
                           "speech_end_t": max(w.end_t for w in words)}
        if "pause_source" not in record:
            record |= {"pause_source": "voice_activity",
                       "pauses": _spans(vad.gaps(voiced, cfg.min_pause_s)),
                       "speech_start_t": _round(voiced[0][0]) if voiced else None,
                       "speech_end_t": _round(voiced[-1][1]) if voiced else None}
        return [SpeechRateRecord.model_validate(record)]
