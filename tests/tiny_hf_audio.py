"""Tiny, randomly initialised audio classifiers in the official Hugging Face formats, and
synthetic test sounds.

The models are written exactly as the pinned repositories hold them, under the file names of
the default lock, so that ``ModelStore(root)`` with the default lock finds them and the
analyzers load them through their production path:

- ``audio_events``: an AST (``ASTForAudioClassification``) saved with ``save_pretrained``
  (``config.json`` + ``model.safetensors``, the checkpoint keys in the original layout that
  transformers restores on save) and its ``ASTFeatureExtractor`` (``preprocessor_config.json``);
  a handful of classes with real AudioSet names, so that the label families resolve.
- ``speech_emotion``: a ``Wav2Vec2ForSequenceClassification`` whose state dict is written with
  ``torch.save`` to ``pytorch_model.bin`` (transformers 5 always writes safetensors, and the
  pinned superb repository has only the pickle), with the weight-norm parameters of the
  positional convolution under their legacy names ``weight_g``/``weight_v`` as in that 2021
  checkpoint, plus ``config.json`` and the ``Wav2Vec2FeatureExtractor``.

Their outputs are random: tests check structure, never content. ``benchmarks/`` reuses the
configs (``--size tiny``) and the sounds.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

SR = 16_000

# Real AudioSet display names (class_labels_indices.csv), one or two per family and some of
# neither, in AudioSet's order.
AST_LABELS = [
    "Speech", "Male speech, man speaking", "Conversation", "Laughter", "Singing", "Dog",
    "Music", "Guitar", "Piano", "Drum", "Pop music", "Vehicle", "Bird vocalization, bird call, "
    "bird song", "Computer keyboard", "Silence", "Noise",
]
EMOTION_CODES = ["neu", "hap", "ang", "sad"]


def ast_config(size: str = "tiny") -> Any:
    from transformers import ASTConfig

    if size == "real":  # MIT/ast-finetuned-audioset-10-10-0.4593
        names = [*AST_LABELS, *(f"AudioSet class {i}" for i in range(len(AST_LABELS), 527))]
        return ASTConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                         intermediate_size=3072, patch_size=16, frequency_stride=10,
                         time_stride=10, max_length=1024, num_mel_bins=128,
                         id2label=dict(enumerate(names)),
                         label2id={n: i for i, n in enumerate(names)})
    return ASTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, patch_size=16, frequency_stride=10, time_stride=10,
                     max_length=100, num_mel_bins=64, id2label=dict(enumerate(AST_LABELS)),
                     label2id={n: i for i, n in enumerate(AST_LABELS)})


def ast_extractor(size: str = "tiny") -> Any:
    from transformers import ASTFeatureExtractor

    # The published AudioSet statistics; with random weights any values would do.
    if size == "real":
        return ASTFeatureExtractor(num_mel_bins=128, max_length=1024, sampling_rate=SR)
    return ASTFeatureExtractor(num_mel_bins=64, max_length=100, sampling_rate=SR)


def wav2vec2_config(size: str = "tiny") -> Any:
    from transformers import Wav2Vec2Config

    labels = {"id2label": dict(enumerate(EMOTION_CODES)),
              "label2id": {c: i for i, c in enumerate(EMOTION_CODES)}}
    if size == "real":  # superb/wav2vec2-base-superb-er: wav2vec2-base with a weighted layer sum
        return Wav2Vec2Config(use_weighted_layer_sum=True, classifier_proj_size=256, **labels)
    # The convolutions stride 320 samples in all, as in the real model (50 frames a second):
    # a smaller stride would make attention over a 6 s piece the slowest part of the tests.
    return Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                          intermediate_size=64, conv_dim=(16, 16, 16, 16),
                          conv_stride=(5, 4, 4, 4), conv_kernel=(10, 4, 4, 4),
                          num_conv_pos_embeddings=16,
                          num_conv_pos_embedding_groups=2, classifier_proj_size=16,
                          use_weighted_layer_sum=True, feat_extract_norm="group", **labels)


def wav2vec2_extractor() -> Any:
    from transformers import Wav2Vec2FeatureExtractor

    # As wav2vec2-base ships it: normalised input, no attention mask (group norm).
    return Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=SR, padding_value=0.0,
                                    do_normalize=True, return_attention_mask=False)


def write_tiny_ast(folder: Path, seed: int = 0) -> None:
    import torch
    from transformers import ASTForAudioClassification

    torch.manual_seed(seed)
    ASTForAudioClassification(ast_config()).save_pretrained(folder)
    ast_extractor().save_pretrained(folder)


def write_tiny_wav2vec2(folder: Path, seed: int = 0) -> None:
    import torch
    from safetensors.torch import load_file
    from transformers import Wav2Vec2ForSequenceClassification

    torch.manual_seed(seed)
    model = Wav2Vec2ForSequenceClassification(wav2vec2_config())
    with tempfile.TemporaryDirectory() as tmp:
        # save_pretrained gives the keys in the checkpoint layout (it reverts the renames
        # transformers applies on load); then only the container changes, to a pickle.
        model.save_pretrained(tmp)
        state = load_file(str(Path(tmp) / "model.safetensors"))
    legacy = {".parametrizations.weight.original0": ".weight_g",
              ".parametrizations.weight.original1": ".weight_v"}
    for new, old in legacy.items():
        for key in [k for k in state if k.endswith(new)]:
            state[key[:-len(new)] + old] = state.pop(key)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / "pytorch_model.bin")
    model.config.save_pretrained(folder)
    wav2vec2_extractor().save_pretrained(folder)


# --- sounds ----------------------------------------------------------------------------------

_VOWELS = [  # formant frequencies and bandwidths (Hz) of a few vowels
    [(730, 90), (1090, 110), (2440, 170)], [(270, 60), (2290, 100), (3010, 120)],
    [(300, 60), (870, 90), (2240, 120)], [(530, 60), (1840, 100), (2480, 120)],
    [(570, 80), (840, 80), (2410, 120)],
]


def _resonator(y: np.ndarray, freq: float, bandwidth: float) -> np.ndarray:
    from scipy.signal import lfilter

    r = np.exp(-np.pi * bandwidth / SR)
    theta = 2 * np.pi * freq / SR
    return lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], y)


def babble(seconds: float, seed: int = 0, level: float = 0.3) -> np.ndarray:
    """Speech-like sound: syllables of a harmonic source with a wandering pitch through vowel
    formants, some with a fricative burst before them, and short pauses. Silero VAD takes it for
    speech (probability about 0.9), which pure tones and chords are not."""
    from scipy.signal import butter, lfilter

    rng = np.random.default_rng(seed)
    parts: list[np.ndarray] = []
    total = 0
    while total < seconds * SR:
        length = rng.uniform(0.15, 0.35)
        t = np.arange(int(length * SR)) / SR
        f0 = rng.uniform(100, 180) * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(1, 4) * t
                                                         + rng.uniform(0, 6)))
        phase = 2 * np.pi * np.cumsum(f0) / SR
        source = sum(np.sin(k * phase) / k for k in range(1, 40)) + 0.02 * rng.normal(size=len(t))
        vowel = sum(_resonator(source, f, bw) for f, bw in _VOWELS[rng.integers(len(_VOWELS))])
        vowel *= np.minimum(1, np.minimum(t / 0.03, (length - t) / 0.05))
        if rng.random() < 0.6:
            b, a = butter(2, [2500 / (SR / 2), 6000 / (SR / 2)], "band")
            burst = lfilter(b, a, rng.normal(size=int(rng.uniform(0.04, 0.1) * SR))) * 0.3
            parts.append(burst)
            total += len(burst)
        parts.append(vowel / np.abs(vowel).max())
        total += len(vowel)
        if rng.random() < 0.15:
            parts.append(np.zeros(int(0.15 * SR)))
            total += int(0.15 * SR)
    y = np.concatenate(parts)[:int(seconds * SR)]
    return (level * y / np.abs(y).max()).astype(np.float32)


def chords(seconds: float, level: float = 0.2) -> np.ndarray:
    """Music-like sound: a I-IV-V-I progression of sustained triads with their overtones."""
    roots = [261.63, 349.23, 392.0, 261.63]
    n = int(seconds * SR)
    y = np.zeros(n)
    step = n // len(roots) or n
    for i, root in enumerate(roots):
        t = np.arange(min(step, n - i * step)) / SR
        if len(t) == 0:
            break
        tone = sum(np.sin(2 * np.pi * root * ratio * h * t) / h
                   for ratio in (1.0, 1.26, 1.5) for h in (1, 2, 3))
        y[i * step:i * step + len(t)] = tone * np.exp(-1.5 * t)
    return (level * y / max(np.abs(y).max(), 1e-9)).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SR), dtype=np.float32)


def track() -> np.ndarray:
    """22 s: speech, silence, music, speech again, silence."""
    return np.concatenate([babble(6.0, seed=1), silence(3.0), chords(7.0), babble(4.0, seed=2),
                           silence(2.0)])


def chunks(audio: np.ndarray, chunk_s: float = 10.0, overlap_s: float = 1.0
           ) -> list[tuple[float, float, np.ndarray]]:
    """``(start_s, overlap_s, samples)`` cut the way the sampler's ``AudioChunker`` cuts."""
    from tiktok_analyzer.frame_sampler.chunks import AudioChunker

    chunker = AudioChunker(round(chunk_s * SR), round(overlap_s * SR))
    out = [*chunker.push(audio), *chunker.finish()]
    return [(start / SR, lead / SR, samples) for start, lead, samples in out]
