"""Whisper benchmark: how fast faster-whisper transcribes short-video audio with a real-size model.

No weights can be downloaded here, so the model is Whisper large-v3's architecture (d_model 1280,
32 encoder and 32 decoder layers, 20 heads, 128 mel bins, a 51866-token vocabulary) with random
weights, built with transformers and converted by CTranslate2's own converter, once per
quantization (float16 and int8_float16 by default), into .cache/bench/whisper-<size>-random/.
Speed depends on the architecture and the number of decoder steps, not on the weights' values,
so the timings stand for the real large-v3 on the same work:

* chunks: the 60 s track cut as the sampler cuts it (10 s chunks overlapping by 1 s, the last one
  reaching back a full chunk: 7 chunks, 70 s of windows), each transcribed by one call as the
  ``transcript`` analyzer does: language detection (unless ``--language``), decoding with word
  timestamps (the alignment pass included);
* track: the same 60 s in one call (two 30 s Whisper windows), for comparison.

A random decoder either stops at once or runs to the 448-token limit, and it ends windows where
a real one would not, so faster-whisper seeks back and decodes the rest of a window again. To
time a realistic amount of decoding, each window is decoded once (see ``DecodeOnce``), without
timestamp tokens and with the end-of-text token suppressed, to exactly ``--tokens`` tokens
(default 50 per 10 s window: ~25 words of fast speech plus their timestamps, had they been
decoded); the track mode's 30 s windows get three times as many. Word timestamps stay on, so the
alignment pass is timed as in production, and so does language detection (its own encoder pass)
unless ``--language`` is given. The "decodes" and "tokens/decode" columns show what was decoded.
Greedy decoding (beam 1) is the default because beam search on random logits does not end like
real decoding; ``--beam-size 5`` shows the production default's cost.

Prints, per quantization and mode: load time, the best and median wall time of ``--repeat``
runs, the real-time factor (wall time / audio seconds, lower is faster) and the peak GPU memory
(polled through pynvml or nvidia-smi while the model is loaded and running; CTranslate2's
allocations are not visible to torch.cuda).

    .venv/bin/python benchmarks/gpu_whisper.py                      # large-v3 on CUDA
    .venv/bin/python benchmarks/gpu_whisper.py --device cpu --size tiny --repeat 1   # smoke test
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "bench"
RATE = 16_000
# <|startoftranscript|> <|xx|> <|transcribe|> <|notimestamps|>; CTranslate2 decodes at most half
# of (prompt + max_new_tokens) new tokens (Whisper's own sample_len rule), so asking for
# 2 * N - PROMPT gives exactly N.
PROMPT = 4
sys.path.insert(0, str(REPO / "tests"))  # tiny_whisper: the random Whisper the tests build too


# --- the model ----------------------------------------------------------------------------------


def model_folders(size: str, quantizations: list[str], device: str) -> dict[str, Path]:
    """One converted folder per quantization, built (once) from one random checkpoint."""
    from tiny_whisper import convert_whisper, save_transformers_whisper

    root = CACHE / f"whisper-{size}-random"
    folders = {q: root / q for q in quantizations}
    missing = [q for q, f in folders.items() if not (f / "model.bin").is_file()]
    if missing:
        init = "cuda" if device.startswith("cuda") and _torch_cuda() else "cpu"
        print(f"building a random {size} Whisper (weights initialised on {init}) ...", flush=True)
        started = time.perf_counter()
        work = save_transformers_whisper(root / "hf", size, half=size != "tiny", device=init)
        print(f"  transformers checkpoint in {time.perf_counter() - started:.1f}s", flush=True)
        try:
            for q in missing:
                started = time.perf_counter()
                # vocabulary.json, as faster-whisper-large-v3 ships it
                convert_whisper(work, folders[q], quantization=q, vocabulary_txt=False)
                print(f"  converted to {q} in {time.perf_counter() - started:.1f}s", flush=True)
        finally:
            shutil.rmtree(work)
    return folders


def _torch_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def compute_type_for(quantization: str, device: str) -> str:
    """The stored type where the device runs it, else the nearest it does (a CPU has no
    float16 kernels: float16 -> float32, int8_float16 -> int8)."""
    import ctranslate2

    kind = device.partition(":")[0]
    supported = ctranslate2.get_supported_compute_types(kind)
    if quantization in supported:
        return quantization
    fallback = {"float16": "float32", "int8_float16": "int8", "bfloat16": "float32",
                "int8_bfloat16": "int8"}.get(quantization, "default")
    return fallback if fallback in supported or fallback == "default" else "default"


# --- GPU memory ---------------------------------------------------------------------------------


class GpuMemory:
    """Peak used memory of one GPU, polled every 50 ms, through pynvml (nvidia-ml-py) or
    ``nvidia-smi``; ``None`` where neither is there."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.read = self._reader()
        self.peak: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _reader(self) -> Callable[[], int | None] | None:
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(self.index)
            return lambda: int(pynvml.nvmlDeviceGetMemoryInfo(handle).used)
        except Exception:  # not installed, or no NVIDIA driver: try the command line
            pass
        if shutil.which("nvidia-smi") is None:
            return None

        def smi() -> int | None:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits",
                 "-i", str(self.index)], capture_output=True, text=True, timeout=5)
            return int(out.stdout.strip()) << 20 if out.returncode == 0 else None

        return smi if smi() is not None else None

    def now(self) -> int | None:
        return self.read() if self.read else None

    def __enter__(self) -> GpuMemory:
        if self.read:
            self.peak = self.read()
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(0.05):
            used = self.read() if self.read else None
            if used is not None:
                self.peak = max(self.peak or 0, used)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()


# --- the work -----------------------------------------------------------------------------------


def track(duration_s: float) -> np.ndarray:
    """Noise shaped like speech's envelope (4 Hz syllables) over a low tone: what it sounds like
    does not matter to random weights, only how long it is."""
    rng = np.random.default_rng(0)
    t = np.arange(round(duration_s * RATE)) / RATE
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
    y = 0.1 * envelope * rng.standard_normal(len(t)) + 0.05 * np.sin(2 * np.pi * 150 * t)
    return y.astype(np.float32)


def chunks(audio: np.ndarray, chunk_s: float = 10.0, overlap_s: float = 1.0) -> list[np.ndarray]:
    from tiktok_analyzer.frame_sampler.chunks import AudioChunker

    chunker = AudioChunker(round(chunk_s * RATE), round(overlap_s * RATE))
    return [w for _, _, w in [*chunker.push(audio), *chunker.finish()]]


@dataclass
class Result:
    quantization: str
    compute_type: str
    mode: str
    load_s: float
    times: list[float]
    audio_s: float
    windows_s: float
    tokens: list[int]
    peak_mib: float | None


class DecodeOnce:
    """CTranslate2's Whisper as faster-whisper sees it, with two changes for random weights:
    every decode's last token becomes the closing timestamp ``<|30.00|>``, the way a real decode
    of a finished window ends, so that faster-whisper moves on to the next window after one
    decode instead of seeking back to wherever the random word alignment put the last word and
    decoding the rest again; and a count of the decodes and their tokens for the report. The
    decode itself (and its cost) is untouched."""

    def __init__(self, model: Any, closing_timestamp: int) -> None:
        self._model = model
        self.closing = closing_timestamp
        self.decoded: list[int] = []

    def generate(self, *args: Any, **kwargs: Any) -> list[SimpleNamespace]:
        results = self._model.generate(*args, **kwargs)
        out = []
        for r in results:
            ids = [*r.sequences_ids[0][:-1], self.closing]
            self.decoded.append(len(ids))
            out.append(SimpleNamespace(sequences_ids=[ids], scores=r.scores,
                                       no_speech_prob=r.no_speech_prob))
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


def transcribe_all(model: Any, windows: list[np.ndarray], args: argparse.Namespace,
                   tokens: int) -> list[int]:
    """Transcribe each window as the analyzer does; returns the tokens of every decode."""
    eot = model.hf_tokenizer.token_to_id("<|endoftext|>")
    closing = model.hf_tokenizer.token_to_id("<|notimestamps|>") + 1 + 1500
    counter = DecodeOnce(model.model, closing)
    model.model = counter
    try:
        for audio in windows:
            segments, _ = model.transcribe(
                audio, language=args.language, beam_size=args.beam_size, temperature=0.0,
                compression_ratio_threshold=None, log_prob_threshold=None,
                no_speech_threshold=None, condition_on_previous_text=False,
                word_timestamps=True, vad_filter=False, without_timestamps=True,
                max_new_tokens=2 * tokens - PROMPT, suppress_tokens=[-1, eot])
            list(segments)  # a generator: decoding happens here
    finally:
        model.model = counter._model
    return counter.decoded


def bench(folder: Path, quantization: str, args: argparse.Namespace, audio: np.ndarray
          ) -> list[Result]:
    from faster_whisper import WhisperModel

    kind, _, index = args.device.partition(":")
    compute_type = compute_type_for(quantization, args.device)
    results = []
    with GpuMemory(int(index or 0)) if kind == "cuda" else _Null() as memory:
        baseline = memory.now()
        started = time.perf_counter()
        model = WhisperModel(str(folder), device=kind, device_index=int(index or 0),
                             compute_type=compute_type, cpu_threads=args.cpu_threads,
                             local_files_only=True)
        load_s = time.perf_counter() - started
        parts = chunks(audio)
        modes = {"chunks": (parts, args.tokens), "track": ([audio], args.tokens * 3)}
        for mode in args.modes:
            windows, tokens = modes[mode]
            transcribe_all(model, windows[:1], args, tokens)  # warm-up: CUDA kernels, buffers
            times, counts = [], []
            for _ in range(args.repeat):
                started = time.perf_counter()
                counts = transcribe_all(model, windows, args, tokens)
                times.append(time.perf_counter() - started)
            peak = memory.peak
            results.append(Result(
                quantization, compute_type, mode, load_s, times, len(audio) / RATE,
                sum(len(w) for w in windows) / RATE, counts,
                (peak - baseline) / 2**20 if peak is not None and baseline is not None
                else None))
        del model
    return results


class _Null:
    peak = None

    def now(self) -> None:
        return None

    def __enter__(self) -> _Null:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def report(results: list[Result], args: argparse.Namespace) -> None:
    print(f"\nWhisper {args.size} (random weights), device {args.device}, beam {args.beam_size}, "
          f"language {args.language or 'detected per call'}, {args.tokens} tokens per 10 s "
          f"window, best of {args.repeat}")
    header = (f"{'stored':<13} {'compute':<13} {'mode':<7} {'load s':>7} {'best s':>8} "
              f"{'median s':>9} {'RTF':>7} {'x realtime':>10} {'decodes':>7} {'tokens/decode':>13} "
              f"{'peak GPU MiB':>13}")
    print(header)
    print("-" * len(header))
    for r in results:
        best, median = min(r.times), statistics.median(r.times)
        peak = f"{r.peak_mib:.0f}" if r.peak_mib is not None else "unknown"
        tokens = f"{min(r.tokens)}-{max(r.tokens)}" if r.tokens else "-"
        print(f"{r.quantization:<13} {r.compute_type:<13} {r.mode:<7} {r.load_s:>7.2f} "
              f"{best:>8.3f} {median:>9.3f} {best / r.audio_s:>7.4f} {r.audio_s / best:>10.1f} "
              f"{len(r.tokens):>7} {tokens:>13} {peak:>13}")
    print(f"RTF = best wall time / {results[0].audio_s:.0f} s of audio (chunks mode decodes "
          f"{results[0].windows_s:.0f} s of windows, the overlaps included); peak GPU memory "
          f"is the rise over the memory in use before the model was loaded")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    parser.add_argument("--size", default="large-v3", choices=["large-v3", "tiny"])
    parser.add_argument("--quantizations", default="float16,int8_float16",
                        help="CTranslate2 quantizations to convert to and time")
    parser.add_argument("--duration", type=float, default=60.0, help="Track length, seconds")
    parser.add_argument("--tokens", type=int, default=50,
                        help="New tokens decoded per 10 s window (x3 per 30 s window)")
    parser.add_argument("--beam-size", type=int, default=1)
    parser.add_argument("--language", default=None,
                        help="Fix the language (skips detection); default: detect, as production")
    parser.add_argument("--modes", default="chunks,track")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cpu-threads", type=int, default=0)
    args = parser.parse_args()
    args.modes = [m for m in args.modes.split(",") if m]
    import ctranslate2

    if args.device.startswith("cuda") and ctranslate2.get_cuda_device_count() == 0:
        sys.exit("CTranslate2 sees no CUDA device; use --device cpu --size tiny for a smoke test")
    folders = model_folders(args.size, args.quantizations.split(","), args.device)
    audio = track(args.duration)
    results = [r for q, folder in folders.items() for r in bench(folder, q, args, audio)]
    report(results, args)


if __name__ == "__main__":
    main()
