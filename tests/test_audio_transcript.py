"""The ``transcript`` and ``speech_rate`` analyzers.

* Stitching: the ownership rule on hand-made words, against chunks cut by the sampler's own
  ``AudioChunker`` (words across boundaries, a last chunk with a longer overlap): stitched, the
  chunks give every word once.
* The production path: a tiny random-weight Whisper in the official CTranslate2 format
  (``tiny_whisper``) in a model store with the default lock, run by the group runner on
  synthesized audio; its words are noise, so only structure and times are checked. With the
  store empty the transcript is ``skipped`` with the pull command.
* ``speech_rate``: exact rates and pauses from a hand-made transcript run; voice activity alone
  (Silero, packaged with faster-whisper) on synthesized voice-like audio and on silence.
* The video-level summaries of both.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from plugin_helpers import of_type, summarize
from scipy.signal import lfilter
from tiny_whisper import WhisperStore, whisper_store

from tiktok_analyzer.audio.analyzers.speech_rate import (
    SpeechRateAnalyzer,
    SpeechRateConfig,
    SpeechRateRecord,
    syllables,
)
from tiktok_analyzer.audio.analyzers.transcript import (
    RawSegment,
    TimedWord,
    TranscriptAnalyzer,
    TranscriptConfig,
    TranscriptSegment,
    Window,
    Word,
    owned_segments,
    owned_words,
)
from tiktok_analyzer.cli.sample import click_track
from tiktok_analyzer.frame_sampler.chunks import AudioChunker
from tiktok_analyzer.shared.contracts.events import AnalyzerStatus, Group
from tiktok_analyzer.shared.runtime.analyzers import (
    AnalyzerOutcome,
    AudioInput,
    GroupRunner,
    LoadContext,
)
from tiktok_analyzer.shared.runtime.models import ModelStore

__all__ = ["whisper_store"]  # the fixture, imported for pytest

RATE = 16_000


def chunk_audio(samples: np.ndarray, rate: int, chunk_s: float = 10.0, overlap_s: float = 1.0,
                video_id: str = "v") -> list[AudioInput]:
    """The chunks the sampler would send for ``samples``: same chunker, same ownership."""
    chunker = AudioChunker(round(chunk_s * rate), round(overlap_s * rate))
    cut = list(chunker.push(samples)) + list(chunker.finish())
    return [AudioInput(video_id, k, start / rate, rate, window.astype(np.float32), lead / rate)
            for k, (start, lead, window) in enumerate(cut)]


# --- stitching --------------------------------------------------------------------------------


def hear(truth: list[tuple[float, float, str]], batch: AudioInput) -> list[TimedWord]:
    """What a perfect Whisper reports on one window: every word it hears any of, times
    relative to the window, a word cut by either edge clipped to it (a cut-off head is timed
    from the window's start, a cut-off tail to its end)."""
    start = batch.start_s
    end = start + len(batch.samples) / batch.sample_rate
    heard = [TimedWord(max(a, start) - start, min(b, end) - start, f" {text}", 0.9)
             for a, b, text in truth if a < end and b > start]
    # Decoders invent text past the audio they were given; it must never be kept.
    return [*heard, TimedWord(end - start + 0.5, end - start + 1.0, " ghost", 0.1)]


def words_every(duration_s: float, step: float, length: float,
                extra: tuple[float, ...] = ()) -> list[tuple[float, float, str]]:
    starts = sorted({round(x, 3) for x in [*np.arange(0.05, duration_s - 0.01, step), *extra]})
    return [(s, min(duration_s, round(s + length, 3)), f"w{i}") for i, s in enumerate(starts)]


@pytest.mark.parametrize(("duration_s", "step", "length", "extra"), [
    (27.3, 0.37, 0.3, (9.8, 9.95, 10.0, 18.9, 19.0)),  # last chunk 17.3-27.3 owns from 19.0
    (30.0, 0.41, 0.55, (9.99, 19.0, 28.99)),  # an exact fit: the last overlap is 1 s
    (6.5, 0.25, 0.2, ()),  # one chunk
    (24.1, 0.9, 1.6, (8.9, 9.5, 18.0)),  # words longer than the overlap
])
def test_stitched_chunks_hold_every_word_once(duration_s: float, step: float, length: float,
                                             extra: tuple[float, ...]) -> None:
    truth = words_every(duration_s, step, length, extra)
    batches = chunk_audio(np.zeros(round(duration_s * RATE), np.float32), RATE)
    assert batches[-1].overlap_s >= batches[1].overlap_s if len(batches) > 1 else True
    stitched: list[Word] = []
    dropped = 0
    for batch in batches:
        window = Window.of(batch)
        heard = hear(truth, batch)
        mine = owned_words(heard, window)
        dropped += len(heard) - len(mine)
        assert all(window.owned_start_s <= w.t < window.end_s for w in mine)
        assert all(w.end_t <= window.end_s for w in mine)
        stitched.extend(mine)
    assert [w.text for w in stitched] == [text for _, _, text in truth]  # none lost, none twice
    assert [w.t for w in stitched] == [a for a, _, _ in truth]
    boundaries = [Window.of(b).end_s for b in batches]
    for w, (_, b, _) in zip(stitched, truth, strict=True):
        cut = next((e for e in boundaries if w.t < e < b), None)  # heard to the chunk's end
        assert w.end_t == pytest.approx(b if cut is None else cut, abs=1e-3)
    if len(batches) > 1:
        assert dropped > len(batches)  # overlap heads and ghosts were really thrown away


def test_a_word_starting_on_the_boundary_goes_to_the_later_chunk() -> None:
    first, second = chunk_audio(np.zeros(15 * RATE, np.float32), RATE)
    truth = [(9.5, 9.9, "before"), (10.0, 10.4, "on"), (9.9, 10.3, "across")]
    assert [w.text for w in owned_words(hear(truth, first), Window.of(first))] == [
        "before", "across"]
    assert [w.text for w in owned_words(hear(truth, second), Window.of(second))] == ["on"]


def test_segments_are_rebuilt_from_their_owned_words() -> None:
    batch = AudioInput("v", 1, 9.0, RATE, np.zeros(6 * RATE, np.float32), 1.0)  # owns 10..15
    words = [TimedWord(0.2, 0.6, " cut", 0.5), TimedWord(0.7, 0.95, " tail", 0.5),
             TimedWord(1.1, 1.4, " kept", 0.8), TimedWord(1.5, 1.9, " too", 1.2)]
    segments = [RawSegment(0.0, 1.0, " cut tail", words[:2], -0.3, 0.1, 1.2),
                RawSegment(0.2, 2.0, " cut tail kept too", tuple(words), -0.5, 0.2, 1.1),
                RawSegment(3.0, 3.5, " 中文", (TimedWord(3.0, 3.2, "中", 0.9),
                                              TimedWord(3.2, 3.5, "文", 0.9)), -0.2, 0.0, 1.0)]
    records = owned_segments(segments, Window.of(batch), "en", 0.97)
    assert [(r.t, r.end_t, r.text) for r in records] == [(10.1, 10.9, "kept too"),
                                                         (12.0, 12.5, "中文")]
    assert [w.probability for w in records[0].words] == [0.8, 1.0]
    assert records[0].avg_logprob == -0.5 and records[0].language == "en"
    # Without word times a segment is owned by its start.
    plain = owned_segments(segments, Window.of(batch), "en", 0.97, with_words=False)
    assert [(r.t, r.text) for r in plain] == [(12.0, "中文")]


# --- the production path with a tiny random Whisper ---------------------------------------------

# Random weights: take whatever the decoder says (no fallback, no thresholds, no VAD cut).
FORCE = {"beam_size": 1, "temperature": (0.0,), "no_speech_threshold": None,
         "log_prob_threshold": None, "compression_ratio_threshold": None, "vad_filter": False}


def formants(x: np.ndarray, freqs: tuple[float, ...], rate: int = RATE) -> np.ndarray:
    for f, bw in zip(freqs, (90, 110, 130), strict=False):
        r = math.exp(-math.pi * bw / rate)
        x = lfilter([1 - r], [1, -2 * r * math.cos(2 * math.pi * f / rate), r * r], x)
    return x


def voice_like(duration_s: float, f0: float = 140.0, seed: int = 0,
               rate: int = RATE) -> np.ndarray:
    """Speech-like sound: syllables of ~0.22 s, each a glottal pulse train at ``f0`` (with
    intonation) through the formants of a vowel, led by a short noise burst (a consonant).
    Pure tones are not speech to Silero; this mostly is."""
    vowels = [(730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480),
              (570, 840, 2410), (660, 1720, 2410)]
    rng = np.random.default_rng(seed)
    n = round(duration_s * rate)
    out = np.zeros(n)
    pos, i = 0, 0
    while pos < n:
        length = round(0.22 * rate * rng.uniform(0.7, 1.3))
        t = np.arange(length) / rate
        phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.1 * np.sin(2 * np.pi * 1.5 * t + i))) / rate
        pulses = np.diff(np.concatenate([[0.0], (phase / (2 * np.pi)) % 1.0 - 0.5]))
        vowel = formants(pulses, vowels[rng.integers(len(vowels))], rate)
        syllable = vowel * np.sin(np.pi * np.arange(length) / length) ** 0.5
        c = round(0.04 * rate)
        burst = formants(rng.standard_normal(c), (2500, 3500, 4500), rate) * np.hanning(c)
        syllable[:c] += 0.3 * burst / (np.abs(burst).max() or 1) * np.abs(vowel).max()
        end = min(n, pos + length)
        out[pos:end] += syllable[:end - pos]
        pos += length + round(rng.uniform(0.0, 0.05) * rate)
        i += 1
    return (0.3 * out / np.abs(out).max()).astype(np.float32)


def mixed_track(duration_s: float = 25.0) -> np.ndarray:
    """Voice-like sound, a tone, noise, clicks and silence, a few seconds each."""
    rng = np.random.default_rng(7)
    n = round(duration_s * RATE)
    y = np.zeros(n, np.float32)
    t = np.arange(n) / RATE
    y[: 6 * RATE] = voice_like(6.0)
    y[6 * RATE: 9 * RATE] = 0.2 * np.sin(2 * np.pi * 220 * t[6 * RATE: 9 * RATE])
    y[8 * RATE: 12 * RATE] += voice_like(4.0, f0=190, seed=2)
    y[12 * RATE: 15 * RATE] = 0.05 * rng.standard_normal(3 * RATE)
    y[15 * RATE: 20 * RATE] = click_track(5.0, 120, rate=RATE)
    y[21 * RATE:] = voice_like(duration_s - 21, seed=5)
    return y


class RecordingTranscript(TranscriptAnalyzer):
    """The production analyzer, also keeping what Whisper said on each whole window."""

    def __init__(self, config: TranscriptConfig | None = None) -> None:
        super().__init__(config)
        self.heard: list[list[RawSegment]] = []

    def transcribe(self, audio: np.ndarray) -> tuple[list[RawSegment], str, float]:
        out = super().transcribe(audio)
        self.heard.append(out[0])
        return out


@pytest.fixture
def tiny_store(tmp_path: Path, whisper_store: WhisperStore) -> ModelStore:
    return ModelStore(whisper_store(tmp_path / "models"))  # the default lock


def runner(store: ModelStore, *analyzers: Any) -> GroupRunner:
    r = GroupRunner(Group.AUDIO, analyzers, LoadContext(model_store=store, device="cpu"))
    r.load()
    return r


def test_tiny_whisper_runs_through_the_production_path(tiny_store: ModelStore) -> None:
    transcript = RecordingTranscript(TranscriptConfig(**FORCE))
    r = runner(tiny_store, transcript, SpeechRateAnalyzer())
    assert r.unavailable() == {}
    assert (transcript.model_id, transcript.model_revision) == (
        tiny_store.pinned("transcript").model_id, tiny_store.pinned("transcript").revision)
    assert transcript._model.model.is_multilingual  # language detection runs, as in production
    track = mixed_track()
    duration = len(track) / RATE
    batches = chunk_audio(track, RATE)
    assert [round(b.overlap_s, 3) for b in batches] == [0.0, 1.0, 4.0]
    all_words: list[Word] = []
    segments: list[TranscriptSegment] = []
    for batch in batches:
        runs = {run.analyzer: run for run in r.run(batch)}
        tr, rate_run = runs["transcript"], runs["speech_rate"]
        assert tr.status is AnalyzerStatus.OK, tr.reason
        assert tr.model_id == "Systran/faster-whisper-small"
        window = Window.of(batch)
        last_t = -1.0
        for segment in of_type(tr.records, TranscriptSegment):
            assert window.owned_start_s <= segment.t <= segment.end_t <= window.end_s <= duration
            assert segment.t >= last_t
            last_t = segment.t
            assert segment.words and segment.text
            assert isinstance(segment.language, str) and 0 <= segment.language_probability <= 1
            times = [w.t for w in segment.words]
            assert times == sorted(times)
            for w in segment.words:
                assert segment.t <= w.t <= w.end_t <= segment.end_t
                assert w.text and 0.0 <= w.probability <= 1.0
            all_words.extend(segment.words)
            segments.append(segment)
        assert rate_run.status is AnalyzerStatus.OK, rate_run.reason
        (rate,) = of_type(rate_run.records, SpeechRateRecord)
        assert (rate.t, rate.end_t) == (round(window.owned_start_s, 3), round(window.end_s, 3))
        assert rate.transcript == "ok"
        assert rate.word_count == sum(
            len(x.words) for x in of_type(tr.records, TranscriptSegment))
        assert len(rate.segments) == len(tr.records)
        for span in [*rate.voice_activity, *rate.pauses]:
            assert rate.t <= span.t <= span.end_t <= rate.end_t
    # The random decoder produced words, and the ownership rule both kept some and dropped
    # some that started in an overlap.
    in_overlaps = 0
    for batch, heard in zip(batches, transcript.heard, strict=True):
        window = Window.of(batch)
        placed = [window.place(w.start, w.end) for s in heard for w in s.words]
        in_overlaps += sum(1 for p in placed if p is not None and p[0] < window.owned_start_s)
    assert all_words and in_overlaps > 0
    times = [w.t for w in all_words]
    assert times == sorted(times) and all(0 <= x <= duration for x in times)
    summary = summarize("transcript", segments)
    assert summary["word_count"] == len(all_words)
    assert summary["first_word_s"] == times[0]
    assert isinstance(summary["text"], str) and summary["text"]
    r.close()


def test_quiet_short_and_resampled_chunks(tiny_store: ModelStore) -> None:
    transcript = RecordingTranscript(TranscriptConfig(**FORCE))
    r = runner(tiny_store, transcript)
    silent = AudioInput("v", 1, 9.0, RATE, np.zeros(10 * RATE, np.float32), 1.0)
    tiny = AudioInput("v", 2, 18.0, RATE, voice_like(1.02), 1.0)  # owns 20 ms
    for batch in (silent, tiny):
        (run,) = r.run(batch)
        assert run.status is AnalyzerStatus.OK and run.records == []
    assert transcript.heard == []  # neither was decoded: Whisper invents words on silence
    rate = 48_000
    loud = AudioInput("v", 3, 27.0, rate, np.tile(voice_like(3.0, rate=rate), 2), 1.0)
    (run,) = r.run(loud)
    assert run.status is AnalyzerStatus.OK and transcript.heard
    for record in of_type(run.records, TranscriptSegment):
        assert 28.0 <= record.t <= record.end_t <= 33.0
    r.close()


def test_without_weights_transcript_is_skipped_and_speech_rate_says_why(tmp_path: Path) -> None:
    r = runner(ModelStore(tmp_path / "models"), TranscriptAnalyzer(), SpeechRateAnalyzer())
    batch = AudioInput("v", 0, 0.0, RATE, voice_like(4.0))
    runs = {run.analyzer: run for run in r.run(batch)}
    assert runs["transcript"].status is AnalyzerStatus.SKIPPED
    assert "tiktok-analyzer models pull transcript" in (runs["transcript"].reason or "")
    assert runs["transcript"].records == []
    (rate,) = of_type(runs["speech_rate"].records, SpeechRateRecord)
    assert rate.transcript == "skipped" and rate.words_per_minute is None
    assert rate.rate_unavailable and rate.rate_unavailable.startswith("transcript skipped: ")
    assert "models pull transcript" in rate.rate_unavailable
    assert rate.pause_source == "voice_activity" and rate.speaking_s > 0


def test_a_folder_without_tokenizer_json_is_missing_weights(tmp_path: Path,
                                                             whisper_store: WhisperStore) -> None:
    store = ModelStore(whisper_store(tmp_path / "models"))
    (store.folder("transcript") / "tokenizer.json").unlink()
    r = runner(store, TranscriptAnalyzer())
    status, reason = r.unavailable()["transcript"]
    assert status is AnalyzerStatus.SKIPPED
    assert "tokenizer.json" in reason and "models pull transcript" in reason


# --- speech_rate ----------------------------------------------------------------------------


def word(t: float, end_t: float, text: str) -> Word:
    return Word(t=t, end_t=end_t, text=text, probability=0.9)


def segment(words: list[Word], language: str = "en") -> TranscriptSegment:
    return TranscriptSegment(
        t=words[0].t, end_t=words[-1].end_t, text=" ".join(w.text for w in words),
        language=language, language_probability=0.9, avg_logprob=-0.2, no_speech_prob=0.01,
        compression_ratio=1.2, words=words)


def transcript_run(records: list[TranscriptSegment],
                   status: AnalyzerStatus = AnalyzerStatus.OK,
                   reason: str | None = None) -> AnalyzerOutcome:
    return AnalyzerOutcome(analyzer="transcript", version="1", status=status, reason=reason,
                           elapsed_s=0.1, records=records)


@pytest.mark.parametrize(("text", "count"), [
    ("hello", 2), ("beautiful", 3), ("world", 1), ("make", 1), ("little", 2), ("the", 1),
    ("people", 2), ("you're", 1), ("42", 1), ("hmm", 1), ("—", 0), ("中文", 2),
])
def test_syllable_heuristic(text: str, count: int) -> None:
    assert syllables(text) == count


def test_rates_and_pauses_from_a_transcript() -> None:
    # Chunk 9..19 s, owning 10..19. Segment one: "hello beautiful" 10.0-10.9, a 0.6 s pause,
    # "world" 11.5-12.0; segment two after a 1.0 s pause: "make it" 13.0-13.7 and a lone "—".
    one = [word(10.0, 10.4, "hello"), word(10.5, 10.9, "beautiful"), word(11.5, 12.0, "world")]
    two = [word(13.0, 13.3, "make"), word(13.4, 13.7, "it"), word(13.75, 13.8, "—")]
    batch = AudioInput("v", 1, 9.0, RATE, np.zeros(10 * RATE, np.float32), 1.0)
    analyzer = SpeechRateAnalyzer(SpeechRateConfig(min_pause_s=0.3))
    (record,) = analyzer.derive(batch, {"transcript": transcript_run(
        [segment(one), segment(two)])})
    # speaking time: runs 10.0-10.9, 11.5-12.0, 13.0-13.7 (gaps of 0.1 and 0.1 bridged)
    assert record.transcript == "ok" and record.rate_unavailable is None
    assert (record.t, record.end_t) == (10.0, 19.0)
    assert record.word_count == 5 and record.syllable_count == 2 + 3 + 1 + 1 + 1
    assert record.words_speaking_s == pytest.approx(0.9 + 0.5 + 0.7)
    assert record.words_per_minute == round(60 * 5 / 2.1, 2)
    assert record.syllables_per_second == round(8 / 2.1, 3)
    assert record.pause_source == "words"
    assert [(p.t, p.end_t) for p in record.pauses] == [(10.9, 11.5), (12.0, 13.0)]
    assert (record.speech_start_t, record.speech_end_t) == (10.0, 13.7)
    first, second = record.segments
    assert (first.t, first.end_t, first.word_count, first.syllable_count) == (10.0, 12.0, 3, 6)
    assert first.words_speaking_s == pytest.approx(1.4)
    assert first.words_per_minute == round(60 * 3 / 1.4, 2)
    assert first.syllables_per_second == round(6 / 1.4, 3)
    assert (second.word_count, second.syllable_count) == (2, 2)
    assert second.words_per_minute == round(60 * 2 / 0.7, 2)
    assert record.speaking_s == 0.0 and record.voice_activity == []  # the audio is silent


def test_an_empty_or_failed_transcript() -> None:
    batch = AudioInput("v", 0, 0.0, RATE, np.zeros(3 * RATE, np.float32))
    analyzer = SpeechRateAnalyzer()
    (empty,) = analyzer.derive(batch, {"transcript": transcript_run([])})
    assert (empty.transcript, empty.word_count, empty.words_per_minute) == ("ok", 0, None)
    assert empty.rate_unavailable == "no words in this chunk"
    assert empty.pause_source == "voice_activity" and empty.pauses == []
    (failed,) = analyzer.derive(batch, {"transcript": transcript_run(
        [], AnalyzerStatus.FAILED, "RuntimeError: boom")})
    assert failed.transcript == "failed" and failed.word_count is None
    assert failed.rate_unavailable == "transcript failed: RuntimeError: boom"
    no_times = segment([word(1.0, 1.5, "hi")]).model_copy(update={"words": []})
    (plain,) = analyzer.derive(batch, {"transcript": transcript_run([no_times])})
    assert plain.words_per_minute is None and "no word timestamps" in (
        plain.rate_unavailable or "")
    (absent,) = analyzer.process(batch)
    assert absent.transcript == "not enabled"
    assert absent.rate_unavailable == "transcript not enabled"


def test_voice_activity_alone_tells_speech_from_silence() -> None:
    # Chunk 9..19.2 s owning 10..19.2: voice 1..4.1 s into it, a 1.2 s silence, voice again.
    audio = np.concatenate([voice_like(1.0, seed=3), voice_like(3.0, seed=3),
                            np.zeros(round(1.2 * RATE), np.float32),
                            voice_like(3.0, f0=180, seed=13), np.zeros(2 * RATE, np.float32)])
    speech = AudioInput("v", 1, 9.0, RATE, audio, 1.0)
    silence = AudioInput("v", 2, 18.2, RATE, np.zeros(10 * RATE, np.float32), 1.0)
    analyzer = SpeechRateAnalyzer()
    (quiet,) = analyzer.process(silence)
    assert quiet.speaking_s == 0.0 and quiet.voice_activity == [] and quiet.pauses == []
    assert quiet.speech_start_t is None and quiet.words_per_minute is None
    (voiced,) = analyzer.process(speech)
    assert voiced.pause_source == "voice_activity"
    assert 2.0 <= voiced.speaking_s <= 6.0 + 0.1
    spans = [(s.t, s.end_t) for s in voiced.voice_activity]
    assert all(10.0 <= a < b <= 19.2 for a, b in spans)
    assert spans == sorted(spans)
    assert sum(b - a for a, b in spans) == pytest.approx(voiced.speaking_s, abs=0.01)
    # Nothing in the middle of the silence, nothing in the silent tail, and the gap is a pause.
    assert not any(a < 13.6 and b > 13.4 for a, b in spans)
    assert all(b <= 17.2 + 0.2 for _, b in spans)
    assert any(p.t <= 13.4 and p.end_t >= 13.6 for p in voiced.pauses)


# --- summaries -------------------------------------------------------------------------------


def test_transcript_summary() -> None:
    records = [
        segment([word(12.0, 12.5, "zweiter"), word(12.6, 13.0, "Satz")], "de"),
        segment([word(0.8, 1.0, "hi"), word(1.1, 1.5, "there")]),
        segment([word(3.0, 5.5, "looong")]),
    ]
    summary = summarize("transcript", records)
    assert summary["text"] == "hi there looong zweiter Satz"
    assert summary["language"] == "en"  # 0.7 + 2.5 s of English against 1.0 s of German
    assert summary["first_word_s"] == 0.8
    assert (summary["word_count"], summary["segments"]) == (5, 3)
    assert summarize("transcript", [])["text"] == ""
    assert summarize("transcript", [])["first_word_s"] is None


def test_speech_rate_summary_pools_chunks_and_finds_pauses_across_boundaries() -> None:
    def chunk(t: float, end_t: float, **fields: Any) -> SpeechRateRecord:
        base = {"t": t, "end_t": end_t, "min_pause_s": 0.3, "speaking_s": 0.0,
                "voice_activity": [], "transcript": "ok", "pause_source": "words",
                "pauses": [], "segments": []}
        return SpeechRateRecord.model_validate(base | fields)

    records = [
        chunk(0.0, 10.0, speaking_s=6.0, word_count=20, syllable_count=30,
              words_speaking_s=5.0, words_per_minute=240.0, syllables_per_second=6.0,
              pauses=[{"t": 2.0, "end_t": 2.5}], speech_start_t=0.5, speech_end_t=9.6),
        chunk(10.0, 19.0, speaking_s=3.0, word_count=10, syllable_count=15,
              words_speaking_s=5.0, words_per_minute=120.0, syllables_per_second=3.0,
              pauses=[{"t": 14.0, "end_t": 15.0}], speech_start_t=10.2, speech_end_t=16.0),
        chunk(19.0, 25.0, speaking_s=0.0, word_count=0, syllable_count=0, words_speaking_s=0.0,
              rate_unavailable="no words in this chunk", pause_source="voice_activity"),
        chunk(25.0, 30.0, speaking_s=1.0, word_count=None, transcript="failed",
              rate_unavailable="transcript failed: x", pause_source="voice_activity",
              speech_start_t=26.0, speech_end_t=27.0),
    ]
    summary = summarize("speech_rate", records)
    assert summary["words_per_minute"] == round(60 * 30 / 10.0, 2)
    assert summary["syllables_per_second"] == 4.5
    assert summary["speaking_ratio"] == round(10.0 / 30.0, 4)
    # inside chunks: 0.5 and 1.0 s; across boundaries: 9.6 -> 10.2 (0.6 s), 16.0 -> 26.0.
    assert summary["pause_count"] == 4
    assert summary["longest_pause_s"] == 10.0
    assert summary["rate_unavailable"] is None
    only_vad = summarize("speech_rate", [records[3]])
    assert only_vad["words_per_minute"] is None
    assert only_vad["rate_unavailable"] == "transcript failed: x"
