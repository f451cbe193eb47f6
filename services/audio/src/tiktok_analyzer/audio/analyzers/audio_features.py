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
        import librosa
        import pyloudnorm

        cfg: AudioFeaturesConfig = self.config  # type: ignore[assignment]
        y, sr = batch.samples.astype(np.float32), batch.sample_rate
        duration = len(y) / sr
        rms = float(np.sqrt(np.mean(np.square(y)))) if len(y) else 0.0
        rms_dbfs = 20 * math.log10(rms) if rms > 0 else -120.0
        record: dict[str, Any] = {
            "t": batch.start_s,
            "duration_s": round(duration, 4),
            "rms_dbfs": round(rms_dbfs, 2),
            "tempo_bpm": None,
            "beats": [],
            "loudness_lufs": None,
            "spectral_centroid_hz": None,
            "spectral_rolloff_hz": None,
        }
        if duration < 0.5 or rms_dbfs < cfg.silence_dbfs:
            return [record]
        loudness = pyloudnorm.Meter(sr).integrated_loudness(y.astype(np.float64))
        record["loudness_lufs"] = round(float(loudness), 2) if math.isfinite(loudness) else None
        hop = cfg.hop_length
        onset = librosa.onset.onset_strength(y=y, sr=sr, hop_length=hop)
        tempo, beats = librosa.beat.beat_track(onset_envelope=onset, sr=sr, hop_length=hop,
                                               units="time")
        record["tempo_bpm"] = round(tempo_from_beats(beats) or float(np.atleast_1d(tempo)[0]), 2)
        record["beats"] = [round(float(b) + batch.start_s, 3) for b in beats]
        record["spectral_centroid_hz"] = round(float(np.mean(
            librosa.feature.spectral_centroid(y=y, sr=sr, hop_length=hop))), 1)
        record["spectral_rolloff_hz"] = round(float(np.mean(
            librosa.feature.spectral_rolloff(y=y, sr=sr, hop_length=hop))), 1)
        return [record]
