"""``audio_features``: tempo and beats, onset strength, RMS level, integrated loudness, spectral
shape and a musical key estimate.

Version 2 adds onset strength, the key estimate and an octave check on the tempo (a beat tracker
locks onto every other click of a fast click track; see ``_offbeats_as_strong``)."""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from tiktok_analyzer.shared.contracts.events import Group
from tiktok_analyzer.shared.contracts.report import TimelineEvent
from tiktok_analyzer.shared.contracts.results import StrictRecord, StrictSummary, mean_of
from tiktok_analyzer.shared.runtime.analyzers import (
    Analyzer,
    AnalyzerConfig,
    AudioInput,
    AudioPolicy,
)
from tiktok_analyzer.shared.runtime.compile_lock import numba_compile_lock

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# Krumhansl & Kessler (1982) probe-tone ratings, tonic first. A key is the rotation and mode
# whose profile correlates best with the chunk's mean chroma (Krumhansl-Schmuckler).
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


class AudioFeaturesConfig(AnalyzerConfig):
    kind: Literal["audio_features"] = "audio_features"
    hop_length: int = Field(default=512, ge=64)
    silence_dbfs: float = Field(default=-60.0, description="Below this a chunk has no tempo")
    offbeat_ratio: float = Field(
        default=0.9, gt=0,
        description="Tempo octave check: when the onsets halfway between the tracked beats are "
                    "at least this strong relative to those on the beats, the beats are every "
                    "other pulse and the tempo is doubled")
    max_bpm: float = Field(default=210.0, gt=0,
                           description="The octave check never doubles a tempo past this")
    min_key_confidence: float = Field(
        default=0.6, ge=-1, le=1,
        description="Least correlation between the chunk's chroma and the best key profile "
                    "for a key to be reported")
    min_chroma_contrast: float = Field(
        default=0.25, ge=0,
        description="Least coefficient of variation of the mean chroma: noise has an almost "
                    "flat chroma that can still correlate with some key by chance")
    min_key_pitch_classes: int = Field(
        default=3, ge=1, le=12,
        description="Pitch classes at a quarter of the strongest or more needed for a key: one "
                    "sustained tone has no key")


class AudioFeaturesRecord(StrictRecord):
    """One chunk's owned audio, from ``t`` for ``duration_s`` seconds."""

    duration_s: float = Field(ge=0)
    rms_dbfs: float
    tempo_bpm: float | None = Field(default=None, gt=0)
    beats: list[float] = Field(default_factory=list,
                               description="Beat times in the owned part, video seconds")
    onset_strength_mean: float | None = Field(
        default=None, ge=0,
        description="Mean onset strength over the owned part: librosa's spectral flux, the mean "
                    "rise in dB across 128 mel bands from one frame to the next (0 in silence)")
    onset_curve: list[tuple[float, float]] = Field(
        default_factory=list,
        description="[t, mean onset strength] per second of the owned part, t in video seconds "
                    "(the last second may be partial)")
    loudness_lufs: float | None = None
    spectral_centroid_hz: float | None = Field(default=None, ge=0)
    spectral_rolloff_hz: float | None = Field(default=None, ge=0)
    key: str | None = Field(default=None, description='e.g. "C major", "F# minor"; null when '
                                                      "the chunk has no clear tonal centre")
    key_confidence: float | None = Field(
        default=None, ge=-1, le=1,
        description="Correlation of the chroma with the best key profile (also given when it "
                    "is too low for a key)")
    chroma: list[float] | None = Field(
        default=None, description="Mean chroma of the owned part, C to B, max 1")


def tempo_from_beats(beats: np.ndarray) -> float | None:
    """Tempo from a straight-line fit of beat times against beat number: the beat tracker's
    own estimate is quantised to the hop size (about 2% at 120 BPM), the fit is not."""
    if len(beats) < 4:
        return None
    period = float(np.polyfit(np.arange(len(beats)), beats, 1)[0])
    return 60.0 / period if period > 0 else None


def estimate_key(chroma: np.ndarray) -> tuple[str, float]:
    """Best of the 24 major and minor keys for a 12-bin chroma (C first), and its correlation."""
    best_name, best_r = "", -2.0
    for mode, profile in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE)):
        for tonic in range(12):
            r = float(np.corrcoef(chroma, np.roll(profile, tonic))[0, 1])
            if r > best_r:
                best_name, best_r = f"{PITCH_CLASSES[tonic]} {mode}", r
    return best_name, best_r


def _beat_strength(onset: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Onset strength at each frame summed with its neighbours: a beat or a midpoint lands on
    one frame, and an onset that falls between two frames splits its flux over both."""
    return np.array([onset[max(0, f - 1):f + 2].sum() for f in frames])


def _trim_beats(onset: np.ndarray, frames: np.ndarray, fraction: float = 0.25) -> np.ndarray:
    """Drop leading and trailing beats with (almost) no onset under them: the beat tracker
    runs its grid on into silence before the music starts and after it stops."""
    if not len(frames):
        return frames
    strength = _beat_strength(onset, frames)
    strong = np.flatnonzero(strength > fraction * np.median(strength))
    return frames[strong[0]:strong[-1] + 1] if len(strong) else frames[:0]


def _offbeats_as_strong(onset: np.ndarray, beats: np.ndarray, ratio: float) -> bool:
    """Whether the onsets halfway between beats are about as strong as those on them.

    librosa's tempo estimate weighs the onset autocorrelation with a prior centred on 120 BPM.
    A click track's autocorrelation is as high at two beats' lag as at one, so the prior picks
    the slower reading for anything much above 140 BPM and the tracker follows every other
    click. A beat level with equally strong onsets in between is not the beat, though: the
    pulse is twice as fast. Music whose off-beats are weaker (kick and snare on the beat, hats
    between) keeps its tempo."""
    if len(beats) < 4:
        return False

    # Summed over neighbouring frames (``_beat_strength``): with the peak frame alone a 150 BPM
    # click track (12.5 frames a beat) reads its off-beats at 2/3 of the beats' strength.
    mids = np.round((beats[:-1] + beats[1:]) / 2).astype(int)
    on = float(np.median(_beat_strength(onset, beats)))
    return on > 0 and float(np.median(_beat_strength(onset, mids))) >= ratio * on


class AudioFeaturesSummary(StrictSummary):
    tempo_bpm: float | None = Field(
        default=None, description="Median of the tempi of chunks with at least 4 beats, "
                                  "weighted by duration")
    beats: list[float] = Field(default_factory=list, description="Every beat, video seconds")
    rms_dbfs: float | None = None
    loudness_lufs: float | None = None
    spectral_centroid_hz: float | None = None
    spectral_rolloff_hz: float | None = None
    onset_strength_mean: float | None = None
    onset_curve: list[tuple[float, float]] = Field(default_factory=list)
    key: str | None = None
    key_confidence: float | None = None
    key_share: float | None = Field(
        default=None, description="Share of the audio with a key that agrees with ``key``")


class AudioFeaturesAnalyzer(Analyzer[AudioFeaturesConfig, AudioInput, AudioFeaturesRecord,
                                     AudioFeaturesSummary]):
    key: ClassVar[str] = "audio_features"
    group: ClassVar[Group] = Group.AUDIO
    version: ClassVar[str] = "2"
    batch_size: ClassVar[int] = 1
    inputs = AudioPolicy()
    config_model = AudioFeaturesConfig
    record_model = AudioFeaturesRecord
    summary_model = AudioFeaturesSummary
    headline = ("tempo_bpm", "loudness_lufs")

    def summarize(self, records: Sequence[AudioFeaturesRecord]) -> AudioFeaturesSummary:
        return summarize_audio_features(records)

    def timeline(self, summary: AudioFeaturesSummary, records: Sequence[AudioFeaturesRecord]
                 ) -> list[TimelineEvent]:
        return ([TimelineEvent(t=summary.beats[0], analyzer=self.key, label="first beat")]
                if summary.beats else [])

    def warm_up(self) -> None:
        # librosa compiles its kernels with numba and builds its CQT filters on first use (tens
        # of seconds on a small machine); pay that here, once, rather than on the first video.
        # A few tones so that every path runs: beats, loudness, spectral shape and the key.
        rate = 16_000
        t = np.arange(rate * 3) / rate
        y = sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0)) * (t % 0.5 < 0.25)
        with numba_compile_lock():  # numba's shared kernel cache: one compiler at a time
            self.process(AudioInput("warm-up", 0, 0.0, rate, (0.05 * y).astype(np.float32)))

    def process(self, batch: AudioInput) -> list[AudioFeaturesRecord]:
        """One record per chunk, covering only the samples the chunk owns (after its overlap):
        ``t`` is where they start and ``duration_s`` their length; RMS, loudness, spectral
        shape, onset strength and key are measured on them alone, and only beats that fall in
        them are listed. Onsets and beats are tracked over the whole chunk, the overlap serving
        as lead-in, and the chunk's tempo is fitted to all the beats it found. So every second
        of audio is counted once in the video's summary however the chunks overlap."""
        import librosa

        cfg = self.config
        sr = batch.sample_rate
        window = batch.samples.astype(np.float32)
        y = batch.owned.astype(np.float32)
        owned_start = round(batch.owned_start_s, 6)
        duration = len(y) / sr
        rms_dbfs = _dbfs(y)
        record: dict[str, Any] = {
            "t": owned_start,
            "duration_s": round(duration, 4),
            "rms_dbfs": round(rms_dbfs, 2),
        }
        hop = cfg.hop_length
        first = batch.owned_start_s - batch.start_s  # seconds of lead-in
        if len(window) / sr < 0.5 or _dbfs(window) < cfg.silence_dbfs:
            # Silence has no onsets: a flat zero curve, so the video's curve has no holes.
            seconds = math.ceil(duration - 1e-9)
            record["onset_strength_mean"] = 0.0
            record["onset_curve"] = [(round(owned_start + k, 3), 0.0) for k in range(seconds)]
            return [_checked(record)]

        # The first chunk has no lead-in, and what precedes it is silence (the video's start):
        # prepend some, or spectral flux cannot see a sound that starts at the first sample.
        pad = 0 if batch.overlap_samples else (2048 // hop + 1) * hop
        padded = np.concatenate([np.zeros(pad, np.float32), window]) if pad else window
        onset = librosa.onset.onset_strength(y=padded, sr=sr, hop_length=hop)
        record |= _onset_summary(onset, sr, hop, first + pad / sr, len(padded) / sr,
                                 owned_start)
        tempo, beat_frames = self._track(onset, sr)
        beats = librosa.frames_to_time(beat_frames, sr=sr, hop_length=hop) - pad / sr
        record["tempo_bpm"] = round(tempo, 2) if tempo else None
        record["beats"] = [round(float(b) + batch.start_s, 3) for b in beats if b >= first]
        if duration < 0.5:
            return [_checked(record)]
        if rms_dbfs >= cfg.silence_dbfs:
            import pyloudnorm

            loudness = pyloudnorm.Meter(sr).integrated_loudness(y.astype(np.float64))
            record["loudness_lufs"] = (round(float(loudness), 2) if math.isfinite(loudness)
                                       else None)
            record |= self._key(y, sr)
        record["spectral_centroid_hz"] = round(float(np.mean(
            librosa.feature.spectral_centroid(y=y, sr=sr, hop_length=hop))), 1)
        record["spectral_rolloff_hz"] = round(float(np.mean(
            librosa.feature.spectral_rolloff(y=y, sr=sr, hop_length=hop))), 1)
        return [_checked(record)]

    def _track(self, onset: np.ndarray, sr: int) -> tuple[float | None, np.ndarray]:
        """Tempo and beat frames, with the octave check (``_offbeats_as_strong``).

        librosa's own trimming of leading and trailing beats compares a smoothed onset
        envelope that sags at the ends of the array, so it drops real beats in the last few
        hundred ms of a chunk, where the next chunk's overlap cannot bring them back (it
        reports only what it owns). Beats are trimmed here on the onsets themselves."""
        import librosa

        cfg = self.config
        hop = cfg.hop_length
        estimate, frames = librosa.beat.beat_track(onset_envelope=onset, sr=sr,
                                                   hop_length=hop, trim=False)
        frames = _trim_beats(onset, frames)
        tempo = tempo_from_beats(frames * hop / sr) or float(np.atleast_1d(estimate)[0]) or None
        if (tempo is not None and 2 * tempo <= cfg.max_bpm
                and _offbeats_as_strong(onset, frames, cfg.offbeat_ratio)):
            _, frames = librosa.beat.beat_track(onset_envelope=onset, sr=sr, hop_length=hop,
                                                bpm=2 * tempo, trim=False)
            frames = _trim_beats(onset, frames)
            tempo = tempo_from_beats(frames * hop / sr) or 2 * tempo
        return tempo, frames

    def _key(self, y: np.ndarray, sr: int) -> dict[str, Any]:
        """Krumhansl-Schmuckler key of the owned audio, with gates for audio without a tonal
        centre (see the config). CQT chroma: at 16 kHz an STFT cannot tell neighbouring
        semitones apart below ~200 Hz, where bass lines and chord roots live."""
        import librosa

        cfg = self.config
        with warnings.catch_warnings():
            # tuning estimation warns on audio with no clear peaks (noise); the gates handle it
            warnings.simplefilter("ignore", UserWarning)
            chroma = librosa.feature.chroma_cqt(y=y, sr=sr, hop_length=cfg.hop_length,
                                                fmin=librosa.note_to_hz("C1"), n_octaves=7)
        mean = chroma.mean(axis=1)
        if not np.isfinite(mean).all() or mean.max() <= 0:
            return {}
        mean = mean / mean.max()
        name, r = estimate_key(mean)
        contrast = float(mean.std() / mean.mean())
        classes = int((mean >= 0.25).sum())
        tonal = (r >= cfg.min_key_confidence and contrast >= cfg.min_chroma_contrast
                 and classes >= cfg.min_key_pitch_classes)
        return {"key": name if tonal else None, "key_confidence": round(r, 3),
                "chroma": [round(float(v), 3) for v in mean]}


def _checked(record: dict[str, Any]) -> AudioFeaturesRecord:
    return AudioFeaturesRecord.model_validate(record)


def _onset_summary(onset: np.ndarray, sr: int, hop: int, first: float, length: float,
                   owned_start: float) -> dict[str, Any]:
    """Mean onset strength over the owned frames, and per second of the owned part."""
    times = np.arange(len(onset)) * hop / sr
    owned = (times >= first) & (times < length)
    values, times = onset[owned], times[owned] - first
    if not len(values):
        return {"onset_strength_mean": 0.0, "onset_curve": []}
    seconds = np.floor(times).astype(int)
    curve = [(round(owned_start + int(s), 3), round(float(values[seconds == s].mean()), 3))
             for s in np.unique(seconds)]
    return {"onset_strength_mean": round(float(values.mean()), 4), "onset_curve": curve}


def _dbfs(y: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(y)))) if len(y) else 0.0
    return 20 * math.log10(rms) if rms > 0 else -120.0


def summarize_audio_features(records: Sequence[AudioFeaturesRecord]) -> AudioFeaturesSummary:
    # Tempo from chunks with enough beats to trust, weighted by duration: the median resists
    # one chunk locking onto half or double time.
    usable = [r for r in records if r.tempo_bpm and len(r.beats) >= 4]
    tempo = None
    if usable:
        tempi = np.repeat([r.tempo_bpm for r in usable],
                          [max(1, round(r.duration_s)) for r in usable])
        tempo = round(float(np.median(tempi)), 2)
    durations = np.array([r.duration_s for r in records]) if records else np.array([])
    energy = np.array([10 ** (r.rms_dbfs / 10) for r in records]) if records else np.array([])
    rms = (round(float(10 * np.log10(np.average(energy, weights=durations) + 1e-12)), 2)
           if records and durations.sum() > 0 else None)
    loud = [(r.loudness_lufs, r.duration_s) for r in records if r.loudness_lufs is not None]
    lufs = None
    if loud:
        power = np.average([10 ** (v / 10) for v, _ in loud], weights=[d for _, d in loud])
        lufs = round(float(10 * np.log10(power)), 2)
    onsets = [(r.onset_strength_mean, r.duration_s) for r in records
              if r.onset_strength_mean is not None]
    onset_mean = (round(float(np.average([v for v, _ in onsets],
                                         weights=[max(d, 1e-9) for _, d in onsets])), 4)
                  if onsets else None)
    return AudioFeaturesSummary(
        tempo_bpm=tempo,
        beats=[b for r in records for b in r.beats],
        rms_dbfs=rms,
        loudness_lufs=lufs,
        spectral_centroid_hz=mean_of(r.spectral_centroid_hz for r in records),
        spectral_rolloff_hz=mean_of(r.spectral_rolloff_hz for r in records),
        onset_strength_mean=onset_mean,
        onset_curve=[point for r in records for point in r.onset_curve],
        **_key_vote(records),
    )


def _key_vote(records: Sequence[AudioFeaturesRecord]) -> dict[str, Any]:
    """The video's key: each chunk with a key votes with its duration times its confidence.
    ``key_confidence`` is the winner's duration-weighted mean correlation, ``key_share`` the
    share of the audio with any key that agrees with it."""
    votes: dict[str, float] = defaultdict(float)
    time: dict[str, float] = defaultdict(float)
    for r in records:
        if r.key and r.duration_s > 0:
            votes[r.key] += r.duration_s * (r.key_confidence or 0.0)
            time[r.key] += r.duration_s
    if not votes:
        return {"key": None, "key_confidence": None, "key_share": None}
    key = max(votes, key=lambda k: votes[k])
    return {"key": key, "key_confidence": round(votes[key] / time[key], 3),
            "key_share": round(time[key] / sum(time.values()), 4)}
