"""``audio_features``: tempo and beats, RMS level, integrated loudness, spectral shape."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from tiktok_analyzer.shared.analyzers import (
    Analyzer,
    AnalyzerConfig,
    AudioInput,
    LoadContext,
    register,
)
from tiktok_analyzer.shared.events import Group


class AudioFeaturesConfig(AnalyzerConfig):
    kind: Literal["audio_features"] = "audio_features"
    hop_length: int = Field(default=512, ge=64)
    silence_dbfs: float = Field(default=-60.0, description="Below this a chunk has no tempo")


def tempo_from_beats(beats: np.ndarray) -> float | None:
    """Tempo from a straight-line fit of beat times against beat number: the beat tracker's
    own estimate is quantised to the hop size (about 2% at 120 BPM), the fit is not."""
    if len(beats) < 4:
        return None
    period = float(np.polyfit(np.arange(len(beats)), beats, 1)[0])
    return 60.0 / period if period > 0 else None


@register
class AudioFeaturesAnalyzer(Analyzer):
    key: ClassVar[str] = "audio_features"
    group: ClassVar[Group] = Group.AUDIO
    version: ClassVar[str] = "1"
    batch_size: ClassVar[int] = 1
    config_model = AudioFeaturesConfig

    def load(self, context: LoadContext) -> None:
        # librosa compiles its kernels with numba on first use (~30 s); pay that here, once,
        # rather than on the first video.
        rate = 16_000
        t = np.arange(rate * 2) / rate
        self.process(AudioInput("warm-up", 0, 0.0, rate,
                                (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)))

    def process(self, batch: AudioInput) -> list[dict[str, Any]]:
        """One record per chunk, covering only the samples the chunk owns (after its overlap):
        ``t`` is where they start and ``duration_s`` their length; RMS, loudness and spectral
        shape are measured on them alone, and only beats that fall in them are listed. Onsets
        and beats are tracked over the whole chunk, the overlap serving as lead-in, and the
        chunk's tempo is fitted to all the beats it found. So every second of audio is counted
        once in the video's summary however the chunks overlap."""
        import librosa
        import pyloudnorm

        cfg: AudioFeaturesConfig = self.config  # type: ignore[assignment]
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
            "tempo_bpm": None,
            "beats": [],
            "loudness_lufs": None,
            "spectral_centroid_hz": None,
            "spectral_rolloff_hz": None,
        }
        if len(window) / sr < 0.5 or _dbfs(window) < cfg.silence_dbfs:
            return [record]
        hop = cfg.hop_length
        onset = librosa.onset.onset_strength(y=window, sr=sr, hop_length=hop)
        tempo, beats = librosa.beat.beat_track(onset_envelope=onset, sr=sr, hop_length=hop,
                                               units="time")
        record["tempo_bpm"] = round(tempo_from_beats(beats) or float(np.atleast_1d(tempo)[0]), 2)
        first = batch.owned_start_s - batch.start_s
        record["beats"] = [round(float(b) + batch.start_s, 3) for b in beats if b >= first]
        if duration < 0.5:
            return [record]
        if rms_dbfs >= cfg.silence_dbfs:
            loudness = pyloudnorm.Meter(sr).integrated_loudness(y.astype(np.float64))
            record["loudness_lufs"] = (round(float(loudness), 2) if math.isfinite(loudness)
                                       else None)
        record["spectral_centroid_hz"] = round(float(np.mean(
            librosa.feature.spectral_centroid(y=y, sr=sr, hop_length=hop))), 1)
        record["spectral_rolloff_hz"] = round(float(np.mean(
            librosa.feature.spectral_rolloff(y=y, sr=sr, hop_length=hop))), 1)
        return [record]


def _dbfs(y: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(y)))) if len(y) else 0.0
    return 20 * math.log10(rms) if rms > 0 else -120.0
