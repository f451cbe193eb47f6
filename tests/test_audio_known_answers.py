"""Weight-free audio analyzers (``audio_features``, ``pitch``) against synthesized audio with
known answers: tempo, beats, loudness, onsets, key, pitch; and their stitching across the
sampler's overlapping chunks."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from plugin_helpers import of_type, summarize

from tiktok_analyzer.audio.analyzers.audio_features import (
    AudioFeaturesAnalyzer,
    AudioFeaturesRecord,
)
from tiktok_analyzer.audio.analyzers.pitch import PitchAnalyzer, PitchRecord
from tiktok_analyzer.cli.sample import click_track
from tiktok_analyzer.frame_sampler.chunks import AudioChunker
from tiktok_analyzer.shared.contracts.events import AnalyzerStatus, Group
from tiktok_analyzer.shared.contracts.results import Record
from tiktok_analyzer.shared.runtime.analyzers import AudioInput, GroupRunner, LoadContext
from tiktok_analyzer.shared.runtime.models import ModelStore

RATE = 16_000
PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


@pytest.fixture(scope="module")
def audio_features() -> AudioFeaturesAnalyzer:
    analyzer = AudioFeaturesAnalyzer()
    analyzer.warm_up()
    return analyzer


@pytest.fixture(scope="module")
def pitch() -> PitchAnalyzer:
    analyzer = PitchAnalyzer()
    analyzer.warm_up()
    return analyzer


# --- synthesis ----------------------------------------------------------------------------------


def seconds(duration_s: float) -> np.ndarray:
    return np.arange(round(duration_s * RATE)) / RATE


def harmonic(f0: float | np.ndarray, duration_s: float, partials: int = 10,
             amplitude: float = 0.3) -> np.ndarray:
    """A voice-like harmonic complex: partials at 1/k amplitude on a (possibly gliding) f0."""
    t = seconds(duration_s)
    phase = 2 * np.pi * np.cumsum(np.broadcast_to(np.asarray(f0, dtype=float), t.shape)) / RATE
    y = sum(np.sin(k * phase) / k for k in range(1, partials + 1))
    return (amplitude * y / np.abs(y).max()).astype(np.float32)


def note(midi: int, duration_s: float, amplitude: float = 0.1) -> np.ndarray:
    """A plucked note: five harmonics, a short attack and an exponential decay."""
    t = seconds(duration_s)
    f = 440.0 * 2 ** ((midi - 69) / 12)
    tone = sum(np.sin(2 * np.pi * k * f * t) / k for k in range(1, 6) if k * f < RATE / 2)
    return amplitude * np.minimum(1.0, t / 0.01) * np.exp(-t / (0.8 * duration_s)) * tone


def progression(tonic: str, mode: str, duration_s: float = 10.0) -> np.ndarray:
    """I-IV-V-I (major) or i-iv-V-i (minor, with the raised leading tone of harmonic minor):
    triads over the chord's root an octave down, twice round."""
    root = 48 + PITCH_CLASSES.index(tonic)
    third = 3 if mode == "minor" else 4
    chords = [[0, third, 7], [5, 5 + third, 12], [7, 11, 14], [0, third, 7]] * 2
    length = duration_s / len(chords)
    y = np.concatenate([sum(note(root + i, length) for i in [c[0] - 12, *c]) for c in chords])
    return y.astype(np.float32)


def noise(duration_s: float, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).normal(size=round(duration_s * RATE))
            ).astype(np.float32)


def chunked(y: np.ndarray, chunk_s: float = 10.0, overlap_s: float = 1.0) -> list[AudioInput]:
    """Cut as the sampler does: 16-bit PCM through its AudioChunker, then back to floats as the
    audio service's consumer reads them."""
    chunker = AudioChunker(round(chunk_s * RATE), round(overlap_s * RATE))
    pcm = np.clip(np.round(y * 32767), -32768, 32767).astype(np.int16)
    parts = [*chunker.push(pcm[: len(pcm) // 2]), *chunker.push(pcm[len(pcm) // 2:]),
             *chunker.finish()]
    return [AudioInput("v", i, start / RATE, RATE, window.astype(np.float32) / 32768.0,
                       lead / RATE) for i, (start, lead, window) in enumerate(parts)]


def whole(y: np.ndarray) -> AudioInput:
    return AudioInput("v", 0, 0.0, RATE, y.astype(np.float32))


# --- tempo, beats, loudness, onsets -------------------------------------------------------------


@pytest.mark.parametrize("bpm", [70, 72, 90, 100, 120, 128, 140, 150, 160, 175, 180, 190])
def test_tempo_of_click_tracks(audio_features: AudioFeaturesAnalyzer, bpm: int) -> None:
    duration = 20.0
    records = [r for c in chunked(click_track(duration, bpm, rate=RATE))
               for r in audio_features.process(c)]
    tempo = summarize("audio_features", records)["tempo_bpm"]
    assert tempo == pytest.approx(bpm, rel=0.02), f"{bpm} BPM read as {tempo}"
    # No octave error in any chunk either, and one beat per click, not every other one.
    for r in records:
        if len(r.beats) >= 4:
            assert r.tempo_bpm == pytest.approx(bpm, rel=0.02), r
    beats = [b for r in records for b in r.beats]
    clicks = duration * bpm / 60
    assert 0.9 * clicks <= len(beats) <= clicks + 1


def test_beats_are_in_video_time(audio_features: AudioFeaturesAnalyzer) -> None:
    chunk = AudioInput("v", 3, 30.0, RATE, click_track(10.0, 120, RATE))
    (record,) = audio_features.process(chunk)
    assert record.t == 30.0
    beats = np.array(record.beats)
    assert len(beats) >= 15
    # Every beat sits on a click of the chunk, counted in seconds from the video start.
    offset_from_grid = np.abs((beats - 30.0) / 0.5 - np.round((beats - 30.0) / 0.5)) * 0.5
    assert offset_from_grid.max() < 0.05
    assert beats.min() >= 30.0 and beats.max() <= 40.0


def test_loudness_of_a_calibrated_tone(audio_features: AudioFeaturesAnalyzer) -> None:
    # BS.1770: a full-scale 1 kHz sine reads -3.01 LUFS; at amplitude 0.1 it reads -23.01.
    t = seconds(5.0)
    tone = (0.1 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    (record,) = audio_features.process(whole(tone))
    assert record.loudness_lufs == pytest.approx(-23.0, abs=0.3)
    assert record.rms_dbfs == pytest.approx(-23.01, abs=0.05)


def test_silence_has_no_tempo(audio_features: AudioFeaturesAnalyzer) -> None:
    (record,) = audio_features.process(whole(np.zeros(2 * RATE, np.float32)))
    assert record.tempo_bpm is None and record.loudness_lufs is None
    assert record.key is None
    assert record.onset_strength_mean == 0.0
    assert record.onset_curve == [(0.0, 0.0), (1.0, 0.0)]


def test_onset_strength_follows_the_attacks(audio_features: AudioFeaturesAnalyzer) -> None:
    t = seconds(10.0)
    steady = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    clicks = click_track(10.0, 120, RATE)
    half = np.concatenate([steady[: 5 * RATE], clicks[5 * RATE:]])
    (flat,) = audio_features.process(whole(steady))
    (busy,) = audio_features.process(whole(clicks))
    (mixed,) = audio_features.process(AudioInput("v", 1, 9.0, RATE, half, overlap_s=1.0))
    assert busy.onset_strength_mean is not None and flat.onset_strength_mean is not None
    assert busy.onset_strength_mean > 10 * flat.onset_strength_mean
    # One point per owned second, in video time; the clicks start 5 s into the chunk (at 14 s).
    curve = dict(mixed.onset_curve)
    assert list(curve) == [float(s) for s in range(10, 19)]
    assert min(curve[s] for s in (15.0, 16.0, 17.0, 18.0)) > 5 * max(
        curve[s] for s in (10.0, 11.0, 12.0, 13.0))


# --- key ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("tonic", "mode"), [("C", "major"), ("A", "minor"), ("Eb", "major"),
                                             ("F#", "minor"), ("G", "major"), ("D", "minor")])
def test_key_of_a_chord_progression(audio_features: AudioFeaturesAnalyzer, tonic: str,
                                    mode: str) -> None:
    (record,) = audio_features.process(whole(progression(tonic, mode)))
    assert record.key == f"{tonic} {mode}"
    assert record.key_confidence is not None and record.key_confidence >= 0.8
    assert record.chroma is not None
    assert max(record.chroma) == 1.0 and len(record.chroma) == 12


def test_key_of_a_scale(audio_features: AudioFeaturesAnalyzer) -> None:
    scale = np.concatenate([note(60 + s, 1.0) for s in (0, 2, 4, 5, 7, 9, 11, 12, 7, 4, 0)])
    (record,) = audio_features.process(whole(scale.astype(np.float32)))
    assert record.key == "C major"


@pytest.mark.parametrize("signal", ["silence", "white noise", "brown noise", "clicks", "tone"])
def test_no_key_without_tonal_content(audio_features: AudioFeaturesAnalyzer,
                                      signal: str) -> None:
    t = seconds(9.0)
    brown = np.cumsum(noise(9.0, seed=2))
    y = {
        "silence": np.zeros(len(t), np.float32),
        "white noise": noise(9.0, seed=1),
        "brown noise": (0.1 * (brown - brown.mean()) / np.abs(brown - brown.mean()).max()),
        "clicks": click_track(9.0, 120, RATE),
        "tone": 0.1 * np.sin(2 * np.pi * 440 * t),  # one pitch class is no key
    }[signal].astype(np.float32)
    (record,) = audio_features.process(whole(y))
    assert record.key is None, record.key_confidence


def test_key_summary_is_a_duration_weighted_vote() -> None:
    records = [
        {"t": 0.0, "duration_s": 10.0, "rms_dbfs": -20.0, "key": "C major",
         "key_confidence": 0.9},
        {"t": 10.0, "duration_s": 9.0, "rms_dbfs": -20.0, "key": "C major",
         "key_confidence": 0.8},
        {"t": 19.0, "duration_s": 9.0, "rms_dbfs": -20.0, "key": "A minor",
         "key_confidence": 0.95},
        {"t": 28.0, "duration_s": 2.0, "rms_dbfs": -80.0, "key": None, "key_confidence": None},
    ]
    summary = summarize("audio_features", records)
    assert summary["key"] == "C major"
    assert summary["key_confidence"] == pytest.approx((10 * 0.9 + 9 * 0.8) / 19, abs=1e-3)
    assert summary["key_share"] == pytest.approx(19 / 28, abs=1e-4)
    assert summarize("audio_features", records[3:])["key"] is None


# --- pitch --------------------------------------------------------------------------------------


@pytest.mark.parametrize("f0", [110.0, 220.0, 330.0])
@pytest.mark.parametrize("kind", ["pure tone", "harmonic complex"])
def test_pitch_of_steady_sounds(pitch: PitchAnalyzer, f0: float, kind: str) -> None:
    y = (harmonic(f0, 5.0, partials=1) if kind == "pure tone" else harmonic(f0, 5.0))
    (record,) = pitch.process(whole(y))
    assert record.voiced_ratio > 0.95
    assert record.median_hz == pytest.approx(f0, rel=0.02)
    assert record.mean_hz == pytest.approx(f0, rel=0.02)
    assert record.std_semitones is not None and record.std_semitones < 0.2
    summary = summarize("pitch", [record])
    assert summary["median_hz"] == pytest.approx(f0, rel=0.02)
    assert summary["range_semitones"] < 0.5


def test_pitch_of_a_glide_rises(pitch: PitchAnalyzer) -> None:
    # 100 -> 300 Hz over 10 s, analyzed as a chunk owning 10..19 s of the video.
    f0 = np.geomspace(100.0, 300.0, 10 * RATE)
    (record,) = pitch.process(AudioInput("v", 1, 9.0, RATE, harmonic(f0, 10.0), overlap_s=1.0))
    times = [t for t, _ in record.contour]
    hz = np.array([v for _, v in record.contour], dtype=float)
    assert times[0] == 10.0 and times[-1] == pytest.approx(18.9)
    assert len(times) == 90 and np.all(np.diff(times) > 0)
    assert not np.isnan(hz).any()
    assert np.all(np.diff(hz) >= 0) and hz[-1] > 2 * hz[0]
    # Each point is the pitch in its step [t, t + 0.1), i.e. at about t + 0.05.
    expected = 100.0 * 3 ** ((np.array(times) + 0.05 - 9.0) / 10.0)
    assert np.allclose(hz, expected, rtol=0.02)
    assert record.std_semitones is not None
    assert record.std_semitones > 4  # a sweep over more than an octave varies a lot


@pytest.mark.parametrize("signal", ["silence", "noise"])
def test_no_pitch_without_a_voice(pitch: PitchAnalyzer, signal: str) -> None:
    y = np.zeros(3 * RATE, np.float32) if signal == "silence" else noise(3.0)
    (record,) = pitch.process(whole(y))
    assert record.voiced_ratio < 0.05
    if signal == "silence":
        assert record.voiced_ratio == 0.0 and record.mean_hz is None
        assert [v for _, v in record.contour] == [None] * 30
    summary = summarize("pitch", [record])
    assert summary["covered_s"] == 3.0
    if signal == "silence":
        assert summary["voiced_ratio"] == 0.0 and summary["mean_hz"] is None


def test_voiced_ratio_of_speech_with_pauses(pitch: PitchAnalyzer) -> None:
    # 0.6 s "syllables" on a gently falling f0, then 0.4 s pauses: 60% voiced.
    unit = np.concatenate([harmonic(np.linspace(180.0, 150.0, round(0.6 * RATE)), 0.6),
                           np.zeros(round(0.4 * RATE), np.float32)])
    (record,) = pitch.process(whole(np.tile(unit, 8)))
    # A 64 ms frame still finds the pitch with its centre up to ~30 ms past either edge of a
    # syllable: about +0.06 here.
    assert record.voiced_ratio == pytest.approx(0.63, abs=0.05)
    assert record.median_hz is not None and 150 <= record.median_hz <= 180
    summary = summarize("pitch", [record])
    assert summary["voiced_s"] == pytest.approx(record.voiced_ratio * 8, abs=1e-3)


# --- stitching across the sampler's chunks ------------------------------------------------------


def speech_like(duration_s: float, seed: int = 0) -> np.ndarray:
    """Syllables of irregular length (0.12-0.35 s) and gaps (0.05-0.3 s, now and then a
    pause), on a pitch that wanders between ~130 and ~240 Hz."""
    rng = np.random.default_rng(seed)
    t = seconds(duration_s)
    f0 = 175.0 * 2 ** (0.35 * np.sin(2 * np.pi * 0.3 * t) + 0.1 * np.sin(2 * np.pi * 1.7 * t))
    gate = np.zeros(len(t), np.float32)
    at = 0.1
    while at < duration_s:
        length = rng.uniform(0.12, 0.35)
        a, b = round(at * RATE), round(min(duration_s, at + length) * RATE)
        gate[a:b] = np.hanning(b - a) ** 0.3  # soft on- and offsets, as in speech
        at += length + (rng.uniform(0.4, 0.8) if rng.random() < 0.1 else rng.uniform(0.05, 0.3))
    return harmonic(f0, duration_s) * gate


@dataclass(frozen=True)
class Chunked:
    """Each analyzer's records over the sampler's chunks of a signal, in chunk order."""

    features: list[AudioFeaturesRecord]
    pitch: list[PitchRecord]


def run_chunked(runner: GroupRunner, y: np.ndarray) -> Chunked:
    """Both analyzers on the sampler's chunks of ``y``, through the production runner."""
    records: dict[str, list[Record]] = {"audio_features": [], "pitch": []}
    for chunk in chunked(y):
        for run in runner.run(chunk):
            assert run.status is AnalyzerStatus.OK, run.reason
            records[run.analyzer].extend(run.records)
    return Chunked(features=of_type(records["audio_features"], AudioFeaturesRecord),
                   pitch=of_type(records["pitch"], PitchRecord))


@pytest.fixture(scope="module")
def runner(audio_features: AudioFeaturesAnalyzer, pitch: PitchAnalyzer,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[GroupRunner]:
    # Both analyzers are weight-free: the model store is empty.
    store = ModelStore(tmp_path_factory.mktemp("models"))
    group = GroupRunner(Group.AUDIO, [audio_features, pitch],
                        LoadContext(model_store=store, device="cpu"))
    yield group
    group.close()


def assert_tiled(records: Chunked, duration: float) -> None:
    """Every sample is owned once: the records tile the signal without gaps or overlaps."""
    feats, pitches = records.features, records.pitch
    assert [r.t for r in pitches] == [r.t for r in feats] == [0.0, 10.0, 19.0, 28.0]
    assert sum(r.duration_s for r in feats) == pytest.approx(duration, abs=1e-3)
    assert all(a.end_t == pytest.approx(b.t) for a, b in itertools.pairwise(pitches))
    assert pitches[-1].end_t == pytest.approx(duration)
    assert sum(r.end_t - r.t for r in pitches) == pytest.approx(duration, abs=1e-3)
    # One onset point per second and one contour point per 0.1 s of the signal, in order.
    onset_times = [t for r in feats for t, _ in r.onset_curve]
    assert onset_times == [float(s) for s in range(round(duration))]
    contour = np.array([t for r in pitches for t, _ in r.contour])
    assert np.all(np.diff(contour) > 0)
    assert np.allclose(contour, np.arange(round(duration * 10)) / 10)


def test_chunked_music_matches_one_pass(runner: GroupRunner,
                                        audio_features: AudioFeaturesAnalyzer) -> None:
    """30 s of clicks at 120 BPM over a C major progression, cut as the sampler cuts (10 s,
    1 s overlap: owned parts start at 0, 10, 19 and 28 s), against one pass over all of it."""
    y = (click_track(30.0, 120, RATE) + 0.5 * np.tile(progression("C", "major", 7.5), 4)
         ).astype(np.float32)
    records = run_chunked(runner, y)
    assert_tiled(records, 30.0)
    feats = records.features
    (once,) = audio_features.process(whole(y))

    # Beats: one per click, none repeated at a chunk boundary, the same as in one pass.
    beats = np.array([b for r in feats for b in r.beats])
    assert len(beats) == len(once.beats) == 60
    assert np.abs(beats - np.array(once.beats)).max() < 0.035
    assert np.abs(beats - np.arange(60) * 0.5).max() < 0.05

    chunked_summary = summarize("audio_features", feats)
    single = summarize("audio_features", [once])
    assert chunked_summary["tempo_bpm"] == pytest.approx(single["tempo_bpm"], rel=0.01)
    assert chunked_summary["tempo_bpm"] == pytest.approx(120, rel=0.02)
    assert chunked_summary["key"] == single["key"] == "C major"
    assert chunked_summary["loudness_lufs"] == pytest.approx(single["loudness_lufs"], abs=0.3)
    assert chunked_summary["rms_dbfs"] == pytest.approx(single["rms_dbfs"], abs=0.05)
    assert chunked_summary["onset_strength_mean"] == pytest.approx(
        single["onset_strength_mean"], rel=0.05)
    assert chunked_summary["spectral_centroid_hz"] == pytest.approx(
        single["spectral_centroid_hz"], rel=0.05)


def test_chunked_speech_matches_one_pass(runner: GroupRunner, pitch: PitchAnalyzer) -> None:
    """30 s of speech-like syllables, cut as the sampler cuts, against one pass."""
    y = speech_like(30.0)
    records = run_chunked(runner, y)
    assert_tiled(records, 30.0)
    pitches = records.pitch
    (once,) = pitch.process(whole(y))
    # The contour agrees point by point. pyin decodes the best path through the whole input,
    # so a different start and end can move a point by a pitch bin or two (0.2 semitone, 1.2%)
    # where the voice glides, and flip a frame at a syllable's edge between voiced and not.
    chunked_contour = [v for r in pitches for _, v in r.contour]
    both = [(a, b) for a, b in zip(chunked_contour, once.contour, strict=True)
            if a is not None and b[1] is not None]
    assert len(both) > 150
    assert max(abs(a - b) / b for a, (_, b) in both) < 0.015
    differ = sum((a is None) != (b[1] is None)
                 for a, b in zip(chunked_contour, once.contour, strict=True))
    assert differ <= 3

    p_chunked, p_single = summarize("pitch", pitches), summarize("pitch", [once])
    assert p_chunked["voiced_ratio"] == pytest.approx(p_single["voiced_ratio"], abs=0.01)
    for field in ("mean_hz", "median_hz", "p5_hz", "p95_hz"):
        assert p_chunked[field] == pytest.approx(p_single[field], rel=0.01), field
    assert p_chunked["std_semitones"] == pytest.approx(p_single["std_semitones"], abs=0.05)
    assert 128 < p_chunked["p5_hz"] < p_chunked["median_hz"] < p_chunked["p95_hz"] < 240
