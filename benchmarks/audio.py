"""Audio service benchmark: the weight-free analyzers' CPU cost per minute of audio.

A 60 s track is synthesized (20 s of music: drums at 112 BPM, bass and chords in G major; 20 s
of speech-like syllables on a wandering pitch; 20 s of that speech over the music 12 dB down),
cut into chunks exactly as the sampler cuts them (16 kHz mono 16-bit PCM through
``AudioChunker``, 10 s chunks overlapping by 1 s, fed in half-second blocks), wrapped in
``AudioChunk`` events and decoded by the consumer's ``to_input``, then analyzed by the
production ``GroupRunner`` with one BLAS thread, as the services run. Analyzers:
``audio_features``, ``pitch`` and, when faster-whisper is installed, ``speech_rate``, whose voice
activity (Silero VAD, shipped inside faster-whisper) runs without a transcript.

Measured in one process: the warm-up (``GroupRunner.load``: each analyzer's ``load`` and
``warm_up``, i.e. numba compilation and filter construction; per analyzer from the runner's
log, in load order, so kernels librosa shares are charged to the first analyzer that uses
them), one untimed first pass, then ``--repeat`` timed passes over all chunks. Per analyzer:
the runner's own ``elapsed_s`` summed over the chunks of a pass (thread hand-off and record
validation included); the total is the wall time of ``GroupRunner.run`` over the chunks. The
summaries printed are each analyzer's own ``summarize`` of the first pass's typed records, as the
aggregator makes them.
Real-time factor = processing seconds / audio seconds (below 1 is faster than real time).

    .venv/bin/python benchmarks/audio.py [--repeat 7] [--duration 60]
"""

from __future__ import annotations

import os

# As the services run (cli/services.py): one BLAS thread each. Must precede numpy's import.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

RATE = 16_000
CHUNK_S = 10.0
OVERLAP_S = 1.0


# --- the track ----------------------------------------------------------------------------------


def _t(duration_s: float) -> np.ndarray:
    return np.arange(round(duration_s * RATE)) / RATE


def _note(freq: float, duration_s: float, amplitude: float, partials: int = 5) -> np.ndarray:
    t = _t(duration_s)
    tone = sum(np.sin(2 * np.pi * k * freq * t) / k for k in range(1, partials + 1)
               if k * freq < RATE / 2)
    return amplitude * np.minimum(1.0, t / 0.01) * np.exp(-t / (0.7 * duration_s)) * tone


def music(duration_s: float, bpm: float = 112.0, seed: int = 1) -> np.ndarray:
    """Kick and snare on the beats, hats on the eighths, a bass note and a chord per bar of
    I-V-vi-IV in G major."""
    rng = np.random.default_rng(seed)
    n = round(duration_s * RATE)
    y = np.zeros(n)
    beat = 60.0 / bpm
    k = np.arange(round(0.15 * RATE))
    kick = np.sin(2 * np.pi * (55 + 90 * np.exp(-k / (0.02 * RATE))) * k / RATE) * np.exp(
        -k / (0.06 * RATE))
    snare = 0.5 * rng.normal(size=len(k)) * np.exp(-k / (0.04 * RATE))
    hat = 0.15 * np.diff(rng.normal(size=len(k) + 1)) * np.exp(-k / (0.01 * RATE))
    for j, at in enumerate(np.arange(0.0, duration_s, beat / 2)):
        i = round(at * RATE)
        hit = hat + ((kick if j % 4 == 0 else snare) if j % 2 == 0 else 0)
        y[i:i + len(k)] += hit[: n - i]
    g = 196.0  # G3
    chords = [(0, 4, 7), (7, 11, 14), (9, 12, 16), (5, 9, 12)]  # G, D, Em, C
    bar = 4 * beat
    for b, at in enumerate(np.arange(0.0, duration_s, bar)):
        root = chords[b % 4]
        length = min(bar, duration_s - at)
        part = _note(g / 2 * 2 ** (root[0] / 12), length, 0.25)
        for step in root:
            part = part + _note(g * 2 ** (step / 12), length, 0.1)
        i = round(at * RATE)
        y[i:i + len(part)] += part[: n - i]
    return 0.3 * y / np.abs(y).max()


def speech(duration_s: float, seed: int = 2) -> np.ndarray:
    """Syllables of irregular length and gaps on a pitch wandering over ~100-180 Hz, with a
    little noise for the consonants."""
    rng = np.random.default_rng(seed)
    t = _t(duration_s)
    f0 = 135.0 * 2 ** (0.4 * np.sin(2 * np.pi * 0.23 * t) + 0.1 * np.sin(2 * np.pi * 2.1 * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 16))
    gate = np.zeros(len(t))
    at = 0.1
    while at < duration_s:
        length = rng.uniform(0.1, 0.3)
        a, b = round(at * RATE), round(min(duration_s, at + length) * RATE)
        gate[a:b] = np.hanning(b - a) ** 0.3
        at += length + (rng.uniform(0.3, 0.7) if rng.random() < 0.15 else rng.uniform(0.03, 0.2))
    y = voice * gate + 0.05 * rng.normal(size=len(t)) * np.roll(gate, round(0.03 * RATE))
    return 0.3 * y / np.abs(y).max()


def track(duration_s: float) -> np.ndarray:
    third = duration_s / 3
    return np.concatenate([music(third), speech(third),
                           speech(third, seed=3) + 0.25 * music(third, seed=4)])


# --- chunks as the sampler makes them -----------------------------------------------------------


def chunks(y: np.ndarray) -> list[Any]:
    """The audio service's inputs: the sampler's chunking (``AudioChunker``, fed half-second
    blocks as the sampler's resampler emits them) into ``AudioChunk`` events, decoded by the
    consumer's ``to_input``."""
    from tiktok_analyzer.frame_sampler.chunks import AudioChunker
    from tiktok_analyzer.shared.contracts.events import AudioChunk
    from tiktok_analyzer.shared.infra.blobs import InlineBlob
    from tiktok_analyzer.shared.runtime.consume import to_input

    chunker = AudioChunker(round(CHUNK_S * RATE), round(OVERLAP_S * RATE))
    pcm = np.clip(np.round(y * 32767), -32768, 32767).astype(np.int16)
    parts = [part for i in range(0, len(pcm), RATE // 2)
             for part in chunker.push(pcm[i:i + RATE // 2])]
    parts += list(chunker.finish())
    return [to_input(AudioChunk(video_id="bench-audio", batch_index=n,
                                start_s=round(start / RATE, 6), sample_rate=RATE,
                                num_samples=len(window), overlap_s=round(lead / RATE, 6),
                                pcm_s16le=InlineBlob(data=window.astype("<i2").tobytes())),
                     None)
            for n, (start, lead, window) in enumerate(parts)]


# --- the run ------------------------------------------------------------------------------------


class _LoadTimes(logging.Handler):
    """Per-analyzer load + warm-up seconds from the runner's "analyzer %s loaded" log line."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seconds: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "analyzer %s loaded on %s in %.2fs" and isinstance(record.args, tuple):
            self.seconds[str(record.args[0])] = float(record.args[2])


def analyzer_keys() -> list[str]:
    # Analyzer modules import cheaply (their libraries load in load()), so what decides whether
    # speech_rate can run is its voice activity library, faster-whisper.
    import importlib.util

    keys = ["audio_features", "pitch"]
    if importlib.util.find_spec("faster_whisper") is None:
        print("speech_rate left out: faster-whisper (its Silero VAD) is not installed")
    else:
        keys.append("speech_rate")
    return keys


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--duration", type=float, default=60.0)
    args = parser.parse_args()

    from tiktok_analyzer.shared.contracts.events import AnalyzerStatus, Group
    from tiktok_analyzer.shared.contracts.results import Record
    from tiktok_analyzer.shared.runtime.analyzers import GroupRunner, LoadContext, build_analyzers
    from tiktok_analyzer.shared.runtime.models import ModelStore
    from tiktok_analyzer.shared.runtime.plugins import discover
    from tiktok_analyzer.shared.settings import ModelStoreSettings

    keys = analyzer_keys()
    inputs = chunks(track(args.duration))
    audio_s = args.duration
    print(f"{audio_s:.0f} s track in {len(inputs)} chunks "
          f"({CHUNK_S:g} s, {OVERLAP_S:g} s overlap, {RATE} Hz); analyzers: {', '.join(keys)}; "
          f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}; "
          f"BLAS threads {os.environ['OPENBLAS_NUM_THREADS']}")

    handler = _LoadTimes()
    runner_log = logging.getLogger("tiktok_analyzer.shared.runtime.analyzers")
    runner_log.addHandler(handler)
    runner_log.setLevel(logging.INFO)
    # The services' model store; these analyzers are weight-free and never read it.
    context = LoadContext(model_store=ModelStore(ModelStoreSettings().store), device="cpu")
    runner = GroupRunner(Group.AUDIO, build_analyzers(keys), context)
    started = time.perf_counter()
    runner.load()
    warm_total = time.perf_counter() - started
    runner_log.removeHandler(handler)
    if runner.unavailable():
        raise SystemExit(f"analyzers unavailable: {runner.unavailable()}")

    def one_pass() -> tuple[dict[str, float], float, dict[str, list[Record]]]:
        seconds = dict.fromkeys(runner.keys, 0.0)
        records: dict[str, list[Record]] = {k: [] for k in runner.keys}
        wall = 0.0
        for batch in inputs:
            t0 = time.perf_counter()
            runs = runner.run(batch)
            wall += time.perf_counter() - t0
            for run in runs:
                if run.status is not AnalyzerStatus.OK:
                    raise SystemExit(f"{run.analyzer} {run.status}: {run.reason}")
                seconds[run.analyzer] += run.elapsed_s
                records[run.analyzer].extend(run.records)
        return seconds, wall, records

    first, first_wall, records = one_pass()
    passes = []
    for i in range(args.repeat):
        seconds, wall, _ = one_pass()
        passes.append((seconds, wall))
        print(f"  pass {i + 1}: " + "  ".join(f"{k} {v:.3f} s" for k, v in seconds.items())
              + f"  total {wall:.3f} s", flush=True)
    runner.close()

    def summarize(key: str) -> Any:
        # As the aggregator does: a fresh, never-loaded plugin summarizes the typed records.
        return discover()[key]().summarize(sorted(records[key], key=lambda r: r.t))

    features, pitch = summarize("audio_features"), summarize("pitch")
    print(f"what they found: tempo {features.tempo_bpm} BPM, key {features.key} "
          f"({features.key_confidence}), {len(features.beats)} beats; pitch median "
          f"{pitch.median_hz} Hz, voiced {pitch.voiced_ratio}, "
          f"range {pitch.range_semitones} semitones")
    print()
    print(f"| analyzer | warm-up, once per process | first pass | s per {audio_s:.0f} s of audio "
          f"(median of {args.repeat}) | fastest | real-time factor (median) |")
    print("|---|---|---|---|---|---|")
    per = 60.0 / audio_s  # report per 60 s of audio whatever the track's length
    for key in runner.keys:
        times = [s[key] for s, _ in passes]
        warm = handler.seconds.get(key)
        print(f"| `{key}` | {f'{warm:.2f} s' if warm is not None else 'n/a'} "
              f"| {first[key] * per:.3f} s | {statistics.median(times) * per:.3f} s "
              f"| {min(times) * per:.3f} s | {statistics.median(times) / audio_s:.4f} |")
    walls = [w for _, w in passes]
    print(f"| **all, `GroupRunner.run` wall** | {warm_total:.2f} s | {first_wall * per:.3f} s "
          f"| {statistics.median(walls) * per:.3f} s | {min(walls) * per:.3f} s "
          f"| **{statistics.median(walls) / audio_s:.4f}** |")


if __name__ == "__main__":
    main()
