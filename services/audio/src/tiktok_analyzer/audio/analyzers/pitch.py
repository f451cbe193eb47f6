"""``pitch``: the fundamental-frequency contour of the voice (probabilistic YIN), with its level,
range and variability per chunk.

pyin finds the pitch of any periodic sound, not only a voice: a sung melody, a bass line or a
held chord under the speech is "voiced" too. The band (65-500 Hz) keeps most instruments'
upper notes out, but where music plays the figures describe the mixture; ``speech_rate``'s voice
activity or ``audio_events`` tell the speech apart.

Cost: pyin decodes an HMM over pitch bins x {voiced, unvoiced} with a dense Viterbi, so its time
grows with the square of the number of bins and linearly with the frame count; scoring each
frame's YIN troughs costs about as much again on speech. Measured on 10 s of 16 kHz speech-like
audio on one core of a shared 2-core machine: 64 ms frames, 10 ms hop, 0.1-semitone bins (pyin's
default resolution): 1.4-1.9 s; 20 ms hop: 0.5-0.85 s; 20 ms hop and 0.2-semitone bins (the
defaults here, 354 states over 65-500 Hz): 0.17-0.29 s, under 3% of real time. The price is a
quantisation error of at most 0.1 semitone (0.6%) and a contour in 20 ms frames, both well below
what a speech pitch summary needs. Only the owned part plus a short margin is analysed, not the
whole overlap (see docs/benchmarks.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, Self

import numpy as np
from pydantic import Field, model_validator

from tiktok_analyzer.shared.contracts.events import Group
from tiktok_analyzer.shared.contracts.results import SpanRecord, StrictSummary
from tiktok_analyzer.shared.runtime.analyzers import (
    Analyzer,
    AnalyzerConfig,
    AudioInput,
    AudioPolicy,
)
from tiktok_analyzer.shared.runtime.compile_lock import numba_compile_lock


class PitchConfig(AnalyzerConfig):
    kind: Literal["pitch"] = "pitch"
    fmin_hz: float = Field(default=65.0, gt=0, description="Lowest f0 searched (a low male "
                                                            "voice reaches ~70 Hz)")
    fmax_hz: float = Field(default=500.0, gt=0, description="Highest f0 searched (children's "
                                                             "and raised voices stay below)")
    frame_s: float = Field(
        default=0.064, gt=0,
        description="Analysis frame; rounded up to a power of two in samples, and to at least "
                    "two periods of fmin_hz plus YIN's window, which pyin needs")
    hop_s: float = Field(default=0.02, gt=0, description="Frame step")
    resolution_semitones: float = Field(
        default=0.2, gt=0, le=1,
        description="Pitch bin width of pyin's HMM: the cost grows with the square of "
                    "1/resolution, the error is at most half a bin")
    contour_step_s: float = Field(default=0.1, gt=0,
                                  description="Spacing of the reported contour points")
    margin_s: float = Field(
        default=0.25, ge=0,
        description="Seconds of the overlap analysed before the owned part, so that the HMM "
                    "has settled by the first owned frame")
    silence_dbfs: float = Field(default=-60.0, description="Below this a chunk is not analysed")

    @model_validator(mode="after")
    def _band(self) -> Self:
        if self.fmax_hz <= self.fmin_hz:
            raise ValueError(f"fmax_hz {self.fmax_hz} must be above fmin_hz {self.fmin_hz}")
        return self


class PitchRecord(SpanRecord):
    """The voice's pitch over one chunk's owned audio, ``t`` to ``end_t`` (video seconds)."""

    voiced_ratio: float = Field(ge=0, le=1, description="Share of frames with a pitch")
    voiced_s: float = Field(ge=0, description="Seconds with a pitch")
    mean_hz: float | None = Field(default=None, gt=0)
    median_hz: float | None = Field(default=None, gt=0)
    p5_hz: float | None = Field(default=None, gt=0, description="5th percentile: low end")
    p95_hz: float | None = Field(default=None, gt=0, description="95th percentile: high end")
    std_semitones: float | None = Field(
        default=None, ge=0, description="Standard deviation of the pitch in semitones: how "
                                        "much the voice varies (monotone speech ~1-2)")
    contour: list[tuple[float, float | None]] = Field(
        default_factory=list,
        description="[t, Hz] every contour_step_s from t, in video seconds: the median pitch "
                    "of the step's frames, null where less than half of them are voiced")


class PitchSummary(StrictSummary):
    covered_s: float = 0.0
    voiced_s: float = 0.0
    voiced_ratio: float | None = None
    mean_hz: float | None = None
    median_hz: float | None = None
    p5_hz: float | None = None
    p95_hz: float | None = None
    range_semitones: float | None = Field(default=None, description="From p5 to p95")
    std_semitones: float | None = None


class PitchAnalyzer(Analyzer[PitchConfig, AudioInput, PitchRecord, PitchSummary]):
    key: ClassVar[str] = "pitch"
    group: ClassVar[Group] = Group.AUDIO
    version: ClassVar[str] = "1"
    batch_size: ClassVar[int] = 1
    inputs = AudioPolicy()
    config_model = PitchConfig
    record_model = PitchRecord
    summary_model = PitchSummary

    def summarize(self, records: Sequence[PitchRecord]) -> PitchSummary:
        return summarize_pitch(records)

    def warm_up(self) -> None:
        # pyin's Viterbi and YIN kernels are numba-compiled on first call (seconds).
        rate = 16_000
        t = np.arange(rate) / rate
        with numba_compile_lock():  # numba's shared kernel cache: one compiler at a time
            self.process(AudioInput("warm-up", 0, 0.0, rate,
                                    (0.1 * np.sin(2 * np.pi * 150 * t)).astype(np.float32)))

    def frame_length(self, sr: int) -> int:
        """pyin searches periods up to ``frame_length - frame_length // 2 - 1`` samples, so the
        frame must hold two periods of ``fmin_hz``; a power of two keeps its FFTs fast."""
        cfg = self.config
        need = max(cfg.frame_s * sr, 2 * (math.ceil(sr / cfg.fmin_hz) + 2))
        return 1 << math.ceil(math.log2(need))

    def process(self, batch: AudioInput) -> list[PitchRecord]:
        """One record per chunk, covering only the samples the chunk owns: pyin runs on them
        plus ``margin_s`` of the overlap before, and only frames centred in the owned part are
        counted. Contour points sit on a grid from the owned start, so chunks' contours join
        without repeats."""
        cfg = self.config
        sr = batch.sample_rate
        owned = batch.owned
        start = batch.owned_start_s
        duration = len(owned) / sr
        end = start + duration
        steps = max(0, math.ceil(duration / cfg.contour_step_s - 1e-9))
        grid = start + cfg.contour_step_s * np.arange(steps)
        silent: dict[str, Any] = {
            "t": round(start, 6), "end_t": round(end, 6), "voiced_ratio": 0.0, "voiced_s": 0.0,
            "contour": [(round(float(t), 3), None) for t in grid],
        }
        if cfg.fmax_hz >= sr / 2:
            raise ValueError(f"fmax_hz {cfg.fmax_hz:g} is not below the Nyquist frequency of "
                             f"{sr} Hz audio")
        if not len(owned) or _dbfs(owned) < cfg.silence_dbfs:
            return [_checked(silent)]

        import librosa

        hop = max(1, round(cfg.hop_s * sr))
        frame_length = self.frame_length(sr)
        lead = _lead(round(batch.owned_start_s * sr), batch.overlap_samples,
                     round(cfg.margin_s * sr), hop)
        segment = batch.samples[batch.overlap_samples - lead:].astype(np.float32)
        if len(segment) < frame_length:  # a sliver of a chunk: centred padding would dominate
            segment = np.pad(segment, (0, frame_length - len(segment)))
        f0, voiced, _ = librosa.pyin(segment, fmin=cfg.fmin_hz, fmax=cfg.fmax_hz, sr=sr,
                                     frame_length=frame_length, hop_length=hop,
                                     resolution=cfg.resolution_semitones)
        times = start + (np.arange(len(f0)) * hop - lead) / sr  # frame centres, video seconds
        mine = (times >= start - 1e-9) & (times < end - 1e-9)
        f0, voiced, times = f0[mine], voiced[mine] & np.isfinite(f0[mine]), times[mine]
        if not len(f0):
            return [_checked(silent)]
        ratio = float(voiced.mean())
        record = silent | {"voiced_ratio": round(ratio, 4),
                           "voiced_s": round(ratio * duration, 4)}
        hz = f0[voiced]
        if len(hz):
            semitones = 12 * np.log2(hz / np.median(hz))
            record |= {
                "mean_hz": round(float(hz.mean()), 2),
                "median_hz": round(float(np.median(hz)), 2),
                "p5_hz": round(float(np.percentile(hz, 5)), 2),
                "p95_hz": round(float(np.percentile(hz, 95)), 2),
                "std_semitones": round(float(semitones.std()), 3),
            }
        step = np.minimum(((times - start) / cfg.contour_step_s).astype(int), steps - 1)
        contour: list[tuple[float, float | None]] = []
        for k, t in enumerate(grid):
            in_step = step == k
            sung = f0[in_step & voiced]
            value = (round(float(np.median(sung)), 2)
                     if len(sung) and 2 * len(sung) >= in_step.sum() else None)
            contour.append((round(float(t), 3), value))
        record["contour"] = contour
        return [_checked(record)]


def _lead(owned_at: int, overlap: int, margin: int, hop: int) -> int:
    """Samples of the overlap to analyse before the owned part: about ``margin``, and such that
    frames fall on one grid of ``hop`` from the video start in every chunk. A pitch that moves
    reads differently on frames shifted by half a hop, so otherwise the contour would depend on
    where the chunks were cut."""
    offset = owned_at % hop
    most = min(overlap, math.ceil(margin / hop) * hop + offset)
    return offset + (most - offset) // hop * hop if most >= offset else 0


def _checked(record: dict[str, Any]) -> PitchRecord:
    return PitchRecord.model_validate(record)


def _dbfs(y: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if len(y) else 0.0
    return 20 * math.log10(rms) if rms > 0 else -120.0


def summarize_pitch(records: Sequence[PitchRecord]) -> PitchSummary:
    # The mean weights each chunk's mean by its voiced seconds; median, range and variability
    # pool every voiced contour point (one per contour step, so equal time each), which also
    # counts how far the chunks' levels differ from one another.
    covered = sum(max(0.0, r.end_t - r.t) for r in records)
    voiced_s = sum(r.voiced_s for r in records)
    means = [(r.mean_hz, r.voiced_s) for r in records
             if r.mean_hz is not None and r.voiced_s > 0]
    hz = np.array([v for r in records for _, v in r.contour if v is not None], dtype=float)
    out: dict[str, Any] = {
        "covered_s": round(covered, 3),
        "voiced_s": round(voiced_s, 3),
        "voiced_ratio": round(voiced_s / covered, 4) if covered > 0 else None,
        "mean_hz": (round(float(np.average([m for m, _ in means],
                                           weights=[w for _, w in means])), 2)
                    if means else None),
    }
    if len(hz):
        median = float(np.median(hz))
        p5, p95 = (float(v) for v in np.percentile(hz, [5, 95]))
        out |= {"median_hz": round(median, 2), "p5_hz": round(p5, 2), "p95_hz": round(p95, 2),
                "range_semitones": round(12 * float(np.log2(p95 / p5)), 3),
                "std_semitones": round(float(np.std(12 * np.log2(hz / median))), 3)}
    return PitchSummary(**out)
