"""Voice activity: where in a stretch of audio someone speaks.

Uses Silero VAD as faster-whisper ships it: the ONNX model is a file inside the faster-whisper
package (``faster_whisper/assets``), installed with it and run by onnxruntime on the CPU, not a
weight fetched into the model store, so analyzers built on it count as weight-free.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

VAD_RATE = 16_000  # Silero runs at 16 kHz (or 8 kHz); faster-whisper's wrapper assumes 16 kHz

Interval = tuple[float, float]


def speech_intervals(samples: np.ndarray, sample_rate: int, threshold: float = 0.5,
                     min_speech_s: float = 0.1, min_silence_s: float = 0.1,
                     pad_s: float = 0.03) -> list[Interval]:
    """Speech in ``samples`` as ``(start, end)`` seconds from their first sample.

    ``threshold`` is Silero's speech probability (per 32 ms window); speech shorter than
    ``min_speech_s`` is dropped, silences shorter than ``min_silence_s`` do not split speech,
    and every interval is widened by ``pad_s`` on each side (within the audio), as Silero's own
    post-processing does; faster-whisper's defaults (2 s of silence, 0.4 s of padding) suit
    cutting audio for a decoder, not measuring pauses, so they are not used here."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    if len(samples) == 0:
        return []
    audio = samples.astype(np.float32)
    if sample_rate != VAD_RATE:
        import librosa

        audio = librosa.resample(audio, orig_sr=sample_rate, target_sr=VAD_RATE).astype(
            np.float32)
    options = VadOptions(threshold=threshold, min_speech_duration_ms=round(min_speech_s * 1000),
                         min_silence_duration_ms=round(min_silence_s * 1000),
                         speech_pad_ms=round(pad_s * 1000))
    found = get_speech_timestamps(audio, options, sampling_rate=VAD_RATE)
    return [(c["start"] / VAD_RATE, c["end"] / VAD_RATE) for c in found]


def clip(intervals: Sequence[Interval], start: float, end: float) -> list[Interval]:
    """The parts of ``intervals`` inside ``[start, end]``."""
    clipped = [(max(a, start), min(b, end)) for a, b in intervals]
    return [(a, b) for a, b in clipped if b > a]


def merge(intervals: Sequence[Interval], bridge: float) -> list[Interval]:
    """Sorted intervals with gaps shorter than ``bridge`` closed (overlaps merged too); the
    complement of ``gaps``."""
    merged: list[Interval] = []
    for a, b in sorted(intervals):
        if merged and round(a - merged[-1][1], 6) < bridge:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def gaps(intervals: Sequence[Interval], at_least: float) -> list[Interval]:
    """Gaps of at least ``at_least`` between consecutive sorted intervals (compared at µs
    precision, so that 0.7 - 0.4 counts as 0.3)."""
    out = []
    reach = None
    for (_, b), (c, _) in itertools.pairwise(sorted(intervals)):
        reach = max(b, reach) if reach is not None else b
        if round(c - reach, 6) >= at_least:
            out.append((reach, c))
    return out
