"""``transcript``: speech to text with word timestamps, Whisper via faster-whisper (CTranslate2).

Each audio chunk is transcribed on its own, the whole window including the overlap, and the
analyzer then keeps only the words the chunk owns, so that the chunks of a video stitch into
one transcript in which no word is repeated and none is lost.

Stitching rule: **a word belongs to the chunk whose owned interval contains the word's start.**

Why the start and not the end: the sampler (``AudioChunker``) gives a chunk a lead-in (its
overlap, the previous chunk's last second) but no look-ahead - every window ends exactly where
its owned part ends, and nothing tells a chunk whether another follows (the last chunk is
usually a full-length window too, reaching back further). Take a word that crosses the boundary
between chunk ``k`` and ``k+1``. Chunk ``k`` hears only its head, and Whisper times such a cut-off
word as ending at (or just before) the end of the audio, i.e. inside ``k``'s owned part; chunk
``k+1`` hears it whole in its overlap. An end-time rule would therefore count it in both chunks,
unless ``k`` dropped every word that reaches its last moments - which, without knowing whether a
successor exists, would also drop the last word of every video. With the start rule the owned
intervals ``[owned_start_k, owned_start_k+1)`` tile the video, every word starts in exactly one
of them and that chunk has heard the start, so each word is counted exactly once, the last
chunk included. The price: a word crossing a boundary is transcribed from its head (Whisper
usually still names it; its end is clipped to the boundary) and ``k+1`` discards the same word
heard whole in its overlap. The overlap still matters: it gives the encoder and decoder context,
so the first owned words of ``k+1`` are not transcribed from a cold start, and a word fragment at
the start of the window is recognised as one and discarded instead of being taken for a word.
The rule is exact for consistent timestamps; where two chunks time the same word on either
side of a boundary (Whisper's word times are estimates, a few tens of ms apart), that word can
still appear twice or not at all.

Every time in the output is seconds from the start of the video. Times Whisper reports beyond
the audio it was given (random or confused decoders do) are clipped to the window, and words
that start after it are dropped. Segments are rebuilt from their owned words: ``t`` is the first
owned word's start, ``end_t`` the last one's end, ``text`` their concatenation; a segment whose
words all belong to a neighbour is dropped. ``avg_logprob``, ``no_speech_prob`` and
``compression_ratio`` describe Whisper's whole segment. A chunk whose owned part is (digitally)
silent or too short is not transcribed at all: Whisper invents text on silence.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tiktok_analyzer.shared.contracts.events import Group
from tiktok_analyzer.shared.contracts.results import SpanRecord, StrictSummary
from tiktok_analyzer.shared.errors import WeightsMissing
from tiktok_analyzer.shared.runtime.analyzers import (
    Analyzer,
    AnalyzerConfig,
    AudioInput,
    AudioPolicy,
    LoadContext,
)

WHISPER_RATE = 16_000  # Whisper's feature extractor assumes 16 kHz mono
TIME_DECIMALS = 3
# Languages whose words faster-whisper splits without spaces; text is joined without them.
UNSPACED_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "my", "yue"})


class TranscriptConfig(AnalyzerConfig):
    kind: Literal["transcript"] = "transcript"
    language: str | None = Field(
        default=None, pattern=r"^[a-z]{2,3}$",
        description="Spoken language (ISO code such as en, de, yue); None detects it per chunk")
    beam_size: int = Field(default=5, ge=1)
    best_of: int = Field(default=5, ge=1, description="Candidates when sampling (temperature > 0)")
    temperature: tuple[float, ...] = Field(
        default=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0), min_length=1,
        description="Tried in turn while a decode fails the thresholds below")
    compression_ratio_threshold: float | None = Field(
        default=2.4, description="Above this gzip ratio a decode counts as failed (repetition)")
    log_prob_threshold: float | None = Field(
        default=-1.0, description="Below this average log probability a decode counts as failed")
    no_speech_threshold: float | None = Field(
        default=0.6, description="Above this no-speech probability (with a failed log "
                                 "probability) a window counts as silent")
    condition_on_previous_text: bool = Field(
        default=False, description="A 10 s chunk is one Whisper window, so this rarely matters")
    initial_prompt: str | None = None
    vad_filter: bool = Field(
        default=True, description="Silero VAD (packaged with faster-whisper) cuts non-speech "
                                  "before decoding: fewer words invented over music and noise")
    vad_min_silence_ms: int = Field(default=500, ge=0)
    word_timestamps: bool = Field(
        default=True, description="Per-word times; without them whole segments are owned by "
                                  "their start")
    max_new_tokens: int | None = Field(default=None, ge=1)
    hallucination_silence_threshold: float | None = None
    compute_type: str = Field(
        default="default",
        description="CTranslate2 compute type; default: float16 on CUDA, int8 on CPU")
    cpu_threads: int = Field(default=0, ge=0, description="0: CTranslate2's default")
    silence_dbfs: float = Field(
        default=-70.0, description="An owned part quieter than this (RMS) is not transcribed")
    min_owned_s: float = Field(
        default=0.05, ge=0, description="An owned part shorter than this is not transcribed")


class Word(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    t: float = Field(ge=0, description="Seconds from the start of the video")
    end_t: float = Field(ge=0, description="Seconds from the start of the video")
    text: str
    probability: float = Field(ge=0, le=1)


class TranscriptSegment(SpanRecord):
    """One Whisper segment, reduced to the words this chunk owns."""

    text: str
    language: str
    language_probability: float = Field(ge=0, le=1)
    avg_logprob: float
    no_speech_prob: float = Field(ge=0, le=1)
    compression_ratio: float
    words: list[Word]


@dataclass(frozen=True)
class TimedWord:
    """A word as Whisper reports it: seconds from the start of the window it heard."""

    start: float
    end: float
    text: str
    probability: float = 1.0


@dataclass(frozen=True)
class RawSegment:
    start: float
    end: float
    text: str
    words: Sequence[TimedWord] = field(default_factory=tuple)
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 0.0


@dataclass(frozen=True)
class Window:
    """Where a chunk lies in the video: ``[start_s, end_s)``, owning ``[owned_start_s, end_s)``."""

    start_s: float
    owned_start_s: float
    end_s: float

    @classmethod
    def of(cls, batch: AudioInput) -> Window:
        return cls(batch.start_s, batch.owned_start_s,
                   batch.start_s + len(batch.samples) / batch.sample_rate)

    def place(self, start: float, end: float) -> tuple[float, float] | None:
        """Window-relative times as video times clipped to the window; None when the word
        starts at or after the end of the audio (nothing was heard there)."""
        if start >= self.end_s - self.start_s:
            return None
        t = round(self.start_s + max(0.0, start), TIME_DECIMALS)
        end_t = round(min(self.end_s, self.start_s + max(start, end)), TIME_DECIMALS)
        return t, max(t, end_t)

    def owns(self, t: float) -> bool:
        """The stitching rule (see the module docstring): a word starting at ``t`` (video
        time, already clipped to the window) is this chunk's when it starts in the owned part.
        Compared at the precision times are reported in, so a word starting exactly on the
        boundary goes to the later chunk in every chunk's eyes."""
        return round(t, TIME_DECIMALS) >= round(self.owned_start_s, TIME_DECIMALS)


def _owned(words: Sequence[TimedWord], window: Window) -> list[tuple[TimedWord, Word]]:
    pairs = []
    for w in words:
        placed = window.place(w.start, w.end)
        if placed is None or not window.owns(placed[0]) or not w.text.strip():
            continue
        pairs.append((w, Word(t=placed[0], end_t=placed[1], text=w.text.strip(),
                              probability=round(min(1.0, max(0.0, _finite(w.probability))), 4))))
    return sorted(pairs, key=lambda pair: (pair[1].t, pair[1].end_t))


def owned_words(words: Sequence[TimedWord], window: Window) -> list[Word]:
    """The words of one chunk's transcription that the chunk owns, in video time and order."""
    return [word for _, word in _owned(words, window)]


def owned_segments(segments: Sequence[RawSegment], window: Window, language: str,
                   language_probability: float, with_words: bool = True
                   ) -> list[TranscriptSegment]:
    """Segment records for what the chunk owns: by word when Whisper gave word times, else
    whole segments by their start."""
    records = []
    for seg in segments:
        common: dict[str, Any] = {
            "language": language,
            "language_probability": round(min(1.0, max(0.0, _finite(language_probability))), 4),
            "avg_logprob": round(_finite(seg.avg_logprob), 4),
            "no_speech_prob": round(min(1.0, max(0.0, _finite(seg.no_speech_prob))), 4),
            "compression_ratio": round(_finite(seg.compression_ratio), 4),
        }
        if with_words:
            pairs = _owned(seg.words, window)
            if not pairs:
                continue
            words = [word for _, word in pairs]
            # Whisper's words carry their own leading space (none in unspaced scripts), so
            # their concatenation is the segment's text as Whisper spelled it.
            text = "".join(raw.text for raw, _ in pairs).strip()
            records.append(TranscriptSegment(
                t=words[0].t, end_t=max(w.end_t for w in words), text=text, words=words,
                **common))
        else:
            placed = window.place(seg.start, seg.end)
            if placed is None or not window.owns(placed[0]) or not seg.text.strip():
                continue
            records.append(TranscriptSegment(t=placed[0], end_t=placed[1],
                                             text=seg.text.strip(), words=[], **common))
    return sorted(records, key=lambda r: (r.t, r.end_t))


def _finite(x: float) -> float:
    x = float(x)
    return x if math.isfinite(x) else 0.0


def _dbfs(y: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if len(y) else 0.0
    return 20 * math.log10(rms) if rms > 0 else -120.0


def _split_device(device: str) -> tuple[str, int]:
    kind, _, index = device.partition(":")
    return kind, int(index) if index else 0


class TranscriptSummary(StrictSummary):
    text: str = Field(default="", description="The whole transcript, in time order")
    language: str | None = Field(default=None, description="The language spoken longest")
    language_seconds: dict[str, float] = Field(default_factory=dict)
    first_word_s: float | None = None
    word_count: int = 0
    segments: int = 0


class TranscriptAnalyzer(Analyzer[TranscriptConfig, AudioInput, TranscriptSegment,
                                  TranscriptSummary]):
    key: ClassVar[str] = "transcript"
    group: ClassVar[Group] = Group.AUDIO
    version: ClassVar[str] = "1"
    batch_size: ClassVar[int] = 1
    inputs = AudioPolicy()
    config_model = TranscriptConfig
    record_model = TranscriptSegment
    summary_model = TranscriptSummary
    model_entry = "transcript"
    headline = ("transcript_text",)

    def __init__(self, config: TranscriptConfig | None = None) -> None:
        super().__init__(config)
        self._model: Any = None

    @property
    def cfg(self) -> TranscriptConfig:
        return self.config

    def summarize(self, records: Sequence[TranscriptSegment]) -> TranscriptSummary:
        return summarize_transcript(records)

    def report_metrics(self, summary: TranscriptSummary, records: Sequence[TranscriptSegment]
                       ) -> dict[str, Any]:
        return {"transcript_text": summary.text}

    def load(self, context: LoadContext) -> None:
        pinned, folder = context.model_store.require(self.key)
        # Without tokenizer.json in the folder faster-whisper fetches one from the hub; the
        # default lock pins it, but a lock of one's own might not.
        if not (folder / "tokenizer.json").is_file():
            raise WeightsMissing(
                f"{folder / 'tokenizer.json'} is missing (faster-whisper would fetch a tokenizer "
                f"from the hub); fetch the model with `tiktok-analyzer models pull {self.key}` "
                f"where the internet is reachable")
        from faster_whisper import WhisperModel
        from faster_whisper.feature_extractor import FeatureExtractor

        kind, index = _split_device(context.device)
        compute_type = self.cfg.compute_type
        if compute_type == "default":
            compute_type = "float16" if kind == "cuda" else "int8"
        model = WhisperModel(str(folder), device=kind, device_index=index,
                             compute_type=compute_type, cpu_threads=self.cfg.cpu_threads,
                             local_files_only=True)
        # large-v3 has 128 mel bins and says so in the preprocessor_config.json it ships; if a
        # folder lacks that file faster-whisper would feed it 80 and fail on every chunk.
        if model.feature_extractor.mel_filters.shape[0] != model.model.n_mels:
            model.feature_extractor = FeatureExtractor(
                **{**model.feat_kwargs, "feature_size": model.model.n_mels})
        self._model = model
        self.model_id, self.model_revision = pinned.model_id, pinned.revision

    def warm_up(self) -> None:
        # The first decode allocates CTranslate2's buffers (and on CUDA its kernels); one short
        # decode of faint noise pays for that before the first real chunk.
        noise = (0.01 * np.random.default_rng(0).standard_normal(WHISPER_RATE)).astype(np.float32)
        segments, _ = self._model.transcribe(
            noise, language="en" if self._model.model.is_multilingual else None, beam_size=1,
            temperature=0.0, without_timestamps=True, max_new_tokens=4, vad_filter=False)
        list(segments)

    def transcribe(self, audio: np.ndarray) -> tuple[list[RawSegment], str, float]:
        """Whisper on one window of 16 kHz samples: its segments (window-relative times), the
        language and its probability."""
        cfg = self.cfg
        segments, info = self._model.transcribe(
            audio, language=cfg.language, task="transcribe", beam_size=cfg.beam_size,
            best_of=cfg.best_of, temperature=list(cfg.temperature),
            compression_ratio_threshold=cfg.compression_ratio_threshold,
            log_prob_threshold=cfg.log_prob_threshold,
            no_speech_threshold=cfg.no_speech_threshold,
            condition_on_previous_text=cfg.condition_on_previous_text,
            initial_prompt=cfg.initial_prompt, word_timestamps=cfg.word_timestamps,
            vad_filter=cfg.vad_filter,
            vad_parameters={"min_silence_duration_ms": cfg.vad_min_silence_ms},
            max_new_tokens=cfg.max_new_tokens,
            hallucination_silence_threshold=cfg.hallucination_silence_threshold)
        raw = [RawSegment(start=s.start, end=s.end, text=s.text,
                          words=tuple(TimedWord(w.start, w.end, w.word, w.probability)
                                      for w in (s.words or ())),
                          avg_logprob=s.avg_logprob, no_speech_prob=s.no_speech_prob,
                          compression_ratio=s.compression_ratio)
               for s in segments]  # a generator: decoding happens here
        return raw, info.language, float(info.language_probability)

    def process(self, batch: AudioInput) -> list[TranscriptSegment]:
        cfg = self.cfg
        owned = batch.owned
        if (len(owned) / batch.sample_rate < cfg.min_owned_s
                or _dbfs(owned) < cfg.silence_dbfs):
            return []
        audio = batch.samples.astype(np.float32)
        if batch.sample_rate != WHISPER_RATE:
            import librosa

            audio = librosa.resample(audio, orig_sr=batch.sample_rate,
                                     target_sr=WHISPER_RATE).astype(np.float32)
        segments, language, probability = self.transcribe(audio)
        return owned_segments(segments, Window.of(batch), language, probability,
                              with_words=cfg.word_timestamps)

    def close(self) -> None:
        self._model = None


# Scripts faster-whisper splits into words without spaces; their text is joined without them.
_UNSPACED_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "my", "yue"})


def summarize_transcript(records: Sequence[TranscriptSegment]) -> TranscriptSummary:
    # Every segment holds only words its chunk owns, so joining them in time order is the
    # whole transcript once. The language is the one spoken longest (chunks detect it on their
    # own and can disagree on short or unclear ones).
    spoken: dict[str, float] = defaultdict(float)
    for r in records:
        spoken[r.language] += max(0.0, r.end_t - r.t) or 1e-6
    seconds = sorted(spoken.items(), key=lambda kv: -kv[1])
    language = seconds[0][0] if seconds else None
    joiner = "" if language in _UNSPACED_LANGUAGES else " "
    words = [w for r in records for w in r.words]
    word_count = sum(len(r.words) if r.words else len(r.text.split()) for r in records)
    first = min((w.t for w in words), default=None)
    if first is None and records:
        first = records[0].t
    return TranscriptSummary(
        text=joiner.join(r.text for r in records if r.text),
        language=language,
        language_seconds={k: round(v, 3) for k, v in seconds},
        first_word_s=first, word_count=word_count, segments=len(records))
