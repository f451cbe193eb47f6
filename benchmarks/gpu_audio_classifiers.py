"""GPU benchmark of the two audio classifiers: ``audio_events`` (AST) and ``speech_emotion``
(Wav2Vec2), at their real size with random weights (no weights can be downloaded here; the
architecture, not the values, sets the cost).

A 60 s track of continuous speech-like babble (``tests/tiny_hf_audio.babble``: Silero VAD takes
it for speech, and nothing is silent, so every window reaches the model: the worst case) is cut
into the sampler's 10 s chunks with 1 s overlap and run through each analyzer's own
``process``, so windows and speech segments are cut exactly as in production. Printed per
analyzer and dtype:

- ``model``: the forward passes alone (inputs prepared beforehand, CUDA synchronised),
- ``end to end``: ``process`` on every chunk (resampling, voice activity, feature extraction,
  forward passes, records),

each as seconds and as a real-time factor (seconds of compute per second of audio, lower is
better), and the peak GPU memory (``torch.cuda.max_memory_allocated``) of the end-to-end run.

    .venv/bin/python benchmarks/gpu_audio_classifiers.py                # CUDA, real size
    .venv/bin/python benchmarks/gpu_audio_classifiers.py --device cpu --size tiny   # smoke test
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the model configs and sounds the tests use

import numpy as np  # noqa: E402
import tiny_hf_audio as th  # noqa: E402

from tiktok_analyzer.shared.runtime.analyzers import AudioInput  # noqa: E402


def build(key: str, size: str, dtype: str, device: str) -> Any:
    import torch
    from transformers import ASTForAudioClassification, Wav2Vec2ForSequenceClassification

    from tiktok_analyzer.audio.analyzers.audio_events import (
        AudioEventsAnalyzer,
        AudioEventsConfig,
    )
    from tiktok_analyzer.audio.analyzers.speech_emotion import (
        SpeechEmotionAnalyzer,
        SpeechEmotionConfig,
    )

    torch.manual_seed(0)
    if key == "audio_events":
        analyzer: Any = AudioEventsAnalyzer(AudioEventsConfig.model_validate({"dtype": dtype}))
        analyzer.setup(ASTForAudioClassification(th.ast_config(size)), th.ast_extractor(size),
                       device)
    else:
        analyzer = SpeechEmotionAnalyzer(SpeechEmotionConfig.model_validate({"dtype": dtype}))
        analyzer.setup(Wav2Vec2ForSequenceClassification(th.wav2vec2_config(size)),
                       th.wav2vec2_extractor(), device)
    return analyzer


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def capture_clips(analyzer: Any, chunks: list[AudioInput]) -> list[list[np.ndarray]]:
    """The clips each chunk hands to the model, cut by the analyzer itself."""
    calls: list[list[np.ndarray]] = []
    original: Callable[[list[np.ndarray]], np.ndarray] = analyzer.scores

    def spy(clips: list[np.ndarray]) -> np.ndarray:
        calls.append(list(clips))
        return original(clips)

    analyzer.scores = spy
    try:
        for chunk in chunks:
            analyzer.process(chunk)
    finally:
        del analyzer.scores  # back to the class's method
    return calls


def model_inputs(analyzer: Any, calls: list[list[np.ndarray]]) -> list[dict[str, Any]]:
    """Feature tensors on the device, batched as ``analyzer.scores`` batches them."""
    batched = getattr(analyzer, "batched", True)
    step = analyzer.effective_batch_size if batched else 1
    inputs = []
    for clips in calls:
        for i in range(0, len(clips), step):
            kwargs: dict[str, Any] = {"sampling_rate": analyzer.rate, "return_tensors": "pt"}
            if analyzer.key == "speech_emotion":
                kwargs |= {"padding": True, "return_attention_mask": batched}
            features = analyzer.extractor(clips[i:i + step], **kwargs)
            item = {"input_values": features["input_values"].to(analyzer.device,
                                                                analyzer.dtype)}
            if "attention_mask" in features and batched:
                item["attention_mask"] = features["attention_mask"].to(analyzer.device)
            inputs.append(item)
    return inputs


def time_model(analyzer: Any, inputs: list[dict[str, Any]], repeat: int) -> float:
    import torch

    times = []
    for _ in range(repeat):
        sync(analyzer.device)
        started = time.perf_counter()
        with torch.inference_mode():
            for item in inputs:
                analyzer.model(**item)
        sync(analyzer.device)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def time_process(analyzer: Any, chunks: list[AudioInput], repeat: int) -> tuple[float, int]:
    times, records = [], 0
    for _ in range(repeat):
        sync(analyzer.device)
        started = time.perf_counter()
        records = sum(len(analyzer.process(chunk)) for chunk in chunks)
        sync(analyzer.device)
        times.append(time.perf_counter() - started)
    return statistics.median(times), records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", choices=["real", "tiny"], default="real")
    parser.add_argument("--dtype", nargs="+", choices=["float16", "float32", "bfloat16"],
                        help="default: float16 and float32 on CUDA, float32 on CPU")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--analyzers", nargs="+", default=["audio_events", "speech_emotion"],
                        choices=["audio_events", "speech_emotion"])
    args = parser.parse_args()

    import torch

    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        sys.exit("CUDA is not available; use --device cpu (with --size tiny for a smoke test)")
    dtypes = args.dtype or (["float16", "float32"] if cuda else ["float32"])
    audio = th.babble(args.duration, seed=7)
    chunks = [AudioInput("bench", i, start, th.SR, samples, overlap)
              for i, (start, overlap, samples) in enumerate(th.chunks(audio))]
    gpu = torch.cuda.get_device_name(args.device) if cuda else "cpu"
    print(f"{args.duration:g} s of speech-like audio in {len(chunks)} chunks (10 s, 1 s overlap);"
          f" {args.size} size, random weights; device {args.device} ({gpu}); torch "
          f"{torch.__version__}, {torch.get_num_threads()} CPU threads")
    header = (f"{'analyzer':<15} {'dtype':<9} {'calls':>5} {'clips':>5} {'records':>7} "
              f"{'model s':>8} {'model RTF':>9} {'e2e s':>7} {'e2e RTF':>8} {'peak MiB':>9}")
    print(header)
    print("-" * len(header))
    for key in args.analyzers:
        for dtype in dtypes:
            analyzer = build(key, args.size, dtype, args.device)
            calls = capture_clips(analyzer, chunks)  # also warms up kernels and allocator
            inputs = model_inputs(analyzer, calls)
            passes = len(inputs)
            model_s = time_model(analyzer, inputs, args.repeat)
            del inputs
            if cuda:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(args.device)
            e2e_s, records = time_process(analyzer, chunks, args.repeat)
            peak = (f"{torch.cuda.max_memory_allocated(args.device) / 2**20:9.0f}" if cuda
                    else f"{'-':>9}")
            print(f"{key:<15} {dtype:<9} {passes:>5} "
                  f"{sum(len(c) for c in calls):>5} {records:>7} {model_s:8.3f} "
                  f"{model_s / args.duration:9.4f} {e2e_s:7.3f} {e2e_s / args.duration:8.4f} "
                  f"{peak}")
            analyzer.close()
            del analyzer
    print("RTF: seconds of compute per second of audio (lower is better); calls: forward "
          "passes; clips: windows (audio_events) or speech pieces (speech_emotion)")


if __name__ == "__main__":
    main()
