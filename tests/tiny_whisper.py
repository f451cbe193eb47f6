"""Randomly initialised Whisper models in the official formats, for tests and benchmarks.

``build_whisper`` writes what ``Systran/faster-whisper-*`` ships - a CTranslate2 conversion
(``config.json``, ``model.bin``, ``vocabulary.txt``) plus the Hugging Face ``tokenizer.json`` -
into a folder, so the ``transcript`` analyzer loads it through its production path (the model
store with the default lock). The model is built the way the official one was: a transformers
``WhisperForConditionalGeneration`` saved with ``save_pretrained`` and converted by
``ctranslate2.converters.TransformersConverter``; only the weights are random and the dimensions
small. Its output is noise and is only ever checked for structure.

The tokenizer keeps Whisper's id layout exactly (CTranslate2 and faster-whisper find the special
tokens by id arithmetic: ``timestamp_begin = <|notimestamps|> + 1``, the number of languages
from ``<|startoftranscript|>`` to ``<|nocaptions|>``): 50257 text tokens (the 256 byte-level
symbols of GPT-2, made-up letter tokens standing in for the BPE merges and the empty token at
50256 that marks the multilingual vocabulary), then
``<|endoftext|>``, ``<|startoftranscript|>``, one token per language, the task and control tokens
and the 1501 timestamps ``<|0.00|>`` .. ``<|30.00|>``.

``whisper_store`` is a session fixture factory: a test module imports it and gets the folder
built once per session (conversion takes a few seconds) and copied into each test's store.
"""

from __future__ import annotations

import itertools
import json
import shutil
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Whisper's language tokens in token order (openai/whisper tokenizer.py LANGUAGES); large-v3
# added "yue" at the end, which shifts every later special token by one.
LANGUAGES = (
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv",
    "it", "id", "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no",
    "th", "ur", "hr", "bg", "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr",
    "az", "sl", "kn", "et", "mk", "br", "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw",
    "gl", "mr", "pa", "si", "km", "sn", "yo", "so", "af", "oc", "ka", "be", "tg", "sd", "gu",
    "am", "yi", "lo", "uz", "fo", "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl",
    "mg", "as", "tt", "haw", "ln", "ha", "ba", "jw", "su", "yue",
)
TEXT_TOKENS = 50257  # the multilingual tiktoken vocabulary (ids 0 .. 50256)
TIMESTAMPS = 1501  # <|0.00|> .. <|30.00|> in steps of 0.02 s
MODEL_FILES = ("config.json", "model.bin", "tokenizer.json", "vocabulary.txt")


@dataclass(frozen=True)
class Size:
    d_model: int
    layers: int
    heads: int
    ffn: int
    mel_bins: int
    languages: int  # 99 up to large-v2, 100 from large-v3
    max_target_positions: int


SIZES = {
    # Small enough to convert in seconds; the vocabulary stays full size so that the model is
    # multilingual (language detection runs) exactly as the production one is.
    "tiny": Size(d_model=64, layers=2, heads=2, ffn=128, mel_bins=80, languages=99,
                 max_target_positions=448),
    # openai/whisper-large-v3's config.json.
    "large-v3": Size(d_model=1280, layers=32, heads=20, ffn=5120, mel_bins=128, languages=100,
                     max_target_positions=448),
}


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map (what the ByteLevel decoder undoes)."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(printable, (chr(c) for c in chars), strict=True))


def special_tokens(languages: int) -> list[str]:
    """Whisper's special tokens in id order, starting at id 50257."""
    return ["<|endoftext|>", "<|startoftranscript|>",
            *(f"<|{code}|>" for code in LANGUAGES[:languages]),
            "<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>",
            "<|nocaptions|>", "<|notimestamps|>",
            *(f"<|{i * 0.02:.2f}|>" for i in range(TIMESTAMPS))]


def build_tokenizer(languages: int) -> Any:
    """A byte-level BPE ``tokenizers.Tokenizer`` with Whisper's ids. The 256 byte symbols make
    every string encodable; the made-up tokens (half of them with a leading space, ``Ġ``) give a
    random decoder whole "words" to emit so that word timestamps have something to split."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    vocab: dict[str, int] = {}
    for char in _bytes_to_unicode().values():
        vocab[char] = len(vocab)
    letters = string.ascii_lowercase
    pieces = (("Ġ" if i % 2 == 0 else "") + "".join(combo)
              for i, combo in enumerate(itertools.chain.from_iterable(
                  itertools.product(letters, repeat=n) for n in (2, 3, 4))))
    for piece in pieces:
        if len(vocab) == TEXT_TOKENS - 1:
            break
        vocab.setdefault(piece, len(vocab))
    # The multilingual vocabulary's last text id (50256) is the empty string; CTranslate2 tells a
    # multilingual model from an English-only one by whether that token exists.
    vocab[""] = TEXT_TOKENS - 1
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False)
                                  for t in special_tokens(languages)])
    return tokenizer


def vocab_size(size: Size) -> int:
    return TEXT_TOKENS + len(special_tokens(size.languages))


def save_transformers_whisper(work: Path, size: str = "tiny", seed: int = 0,
                              half: bool = False, device: str = "cpu") -> Path:
    """A random-weight ``WhisperForConditionalGeneration`` of ``size`` saved with
    ``save_pretrained`` in ``work``, with its ``tokenizer.json`` and ``preprocessor_config.json``:
    the input ``ct2-transformers-converter`` takes. ``half`` stores float16 (as the official
    large checkpoints are); ``device`` is where the weights are initialised (a GPU is much faster
    at filling 1.5 billion random numbers)."""
    import torch
    from transformers import GenerationConfig, WhisperConfig, WhisperForConditionalGeneration

    spec = SIZES[size]
    tokenizer = build_tokenizer(spec.languages)
    n_vocab = vocab_size(spec)
    assert tokenizer.get_vocab_size() == n_vocab, tokenizer.get_vocab_size()
    eot = TEXT_TOKENS
    sot = eot + 1
    lang_ids = list(range(sot + 1, sot + 1 + spec.languages))
    no_timestamps = sot + 1 + spec.languages + 5
    config = WhisperConfig(
        vocab_size=n_vocab, num_mel_bins=spec.mel_bins, d_model=spec.d_model,
        encoder_layers=spec.layers, decoder_layers=spec.layers,
        encoder_attention_heads=spec.heads, decoder_attention_heads=spec.heads,
        encoder_ffn_dim=spec.ffn, decoder_ffn_dim=spec.ffn,
        max_source_positions=1500, max_target_positions=spec.max_target_positions,
        pad_token_id=eot, bos_token_id=eot, eos_token_id=eot, decoder_start_token_id=sot,
    )
    torch.manual_seed(seed)
    with torch.device(device):
        model = WhisperForConditionalGeneration(config).eval()
    if half:
        model = model.half()
    # What the converter reads: the token sets suppressed everywhere and at the first step
    # (Whisper's own suppress lists are of text symbols; a handful stands in for them) and the
    # language ids. alignment_heads are left to the converter's default (the upper half of the
    # decoder layers), as for any Whisper without published heads.
    model.generation_config = GenerationConfig(
        decoder_start_token_id=sot, eos_token_id=eot, pad_token_id=eot,
        suppress_tokens=[1, 2, 7, 8, 9, 10, 14, 25, 26, 27, 28, 29, 31],
        begin_suppress_tokens=[220, eot],
        lang_to_id={f"<|{code}|>": i for code, i in zip(LANGUAGES, lang_ids, strict=False)},
        no_timestamps_token_id=no_timestamps,
        is_multilingual=True,
        max_length=spec.max_target_positions,
    )
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    model.save_pretrained(work)
    tokenizer.save(str(work / "tokenizer.json"))
    # large-v3's 128 mel bins are declared in the preprocessor config it ships; faster-whisper
    # assumes 80 without one.
    (work / "preprocessor_config.json").write_text(json.dumps({
        "chunk_length": 30, "feature_extractor_type": "WhisperFeatureExtractor",
        "feature_size": spec.mel_bins, "hop_length": 160, "n_fft": 400, "n_samples": 480000,
        "nb_max_frames": 3000, "padding_side": "right", "padding_value": 0.0,
        "processor_class": "WhisperProcessor", "return_attention_mask": False,
        "sampling_rate": 16000,
    }))
    return work


def convert_whisper(work: Path, folder: Path, quantization: str | None = None,
                    vocabulary_txt: bool = True) -> Path:
    """``TransformersConverter`` from ``work`` (``save_transformers_whisper``) into ``folder``.
    ``quantization`` is CTranslate2's (``float16``, ``int8_float16``, ...; ``None`` keeps the
    checkpoint's type). ``vocabulary_txt`` writes the vocabulary as ``vocabulary.txt`` (one
    token per line: what the converter wrote when faster-whisper-small was published, and what
    the lock pins) instead of today's ``vocabulary.json``; CTranslate2 reads either."""
    from ctranslate2.converters import TransformersConverter
    from transformers import PreTrainedTokenizerFast

    class Converter(TransformersConverter):
        # The tokenizer is given as the file itself, so no tokenizer_config or hub lookup is
        # involved in reading the vocabulary.
        def load_tokenizer(self, tokenizer_class: Any, model_name_or_path: str,
                           **kwargs: Any) -> Any:
            return PreTrainedTokenizerFast(tokenizer_file=str(work / "tokenizer.json"))

    mels = json.loads((work / "preprocessor_config.json").read_text())["feature_size"]
    copy = ["tokenizer.json"] + (["preprocessor_config.json"] if mels != 80 else [])
    folder.parent.mkdir(parents=True, exist_ok=True)
    Converter(str(work), copy_files=copy).convert(str(folder), quantization=quantization,
                                                  force=True)
    if vocabulary_txt:
        tokens = json.loads((folder / "vocabulary.json").read_text())
        # Byte-level tokens never hold a raw newline (it is mapped to "Ċ"), so lines are safe.
        assert not any("\n" in t for t in tokens)
        (folder / "vocabulary.txt").write_text("\n".join(tokens) + "\n")
        (folder / "vocabulary.json").unlink()
    return folder


def build_whisper(folder: Path, size: str = "tiny", quantization: str | None = None,
                  seed: int = 0, vocabulary_txt: bool = True) -> Path:
    """A random-weight Whisper of ``size`` converted into ``folder`` (CTranslate2 files plus
    ``tokenizer.json``, and ``preprocessor_config.json`` where the mel bins are not 80)."""
    work = save_transformers_whisper(folder.parent / f".{folder.name}-hf", size, seed)
    try:
        return convert_whisper(work, folder, quantization, vocabulary_txt)
    finally:
        shutil.rmtree(work)


WhisperStore = Callable[[Path], Path]


@pytest.fixture(scope="session")
def whisper_store(tmp_path_factory: pytest.TempPathFactory) -> WhisperStore:
    """Returns ``fill(root)``: copies the session's tiny Whisper into ``root/transcript`` (the
    model-store layout) and returns ``root``."""
    built = build_whisper(tmp_path_factory.mktemp("tiny-whisper") / "transcript")

    def fill(root: Path) -> Path:
        shutil.copytree(built, root / "transcript", dirs_exist_ok=True)
        return root

    return fill
