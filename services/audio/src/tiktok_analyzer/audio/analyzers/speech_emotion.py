"""``speech_emotion``: the emotion of each stretch of speech.

The lock pins superb/wav2vec2-base-superb-er, a Wav2Vec2 base fine-tuned on IEMOCAP (English)
with four classes. How a chunk is analysed:

1. Speech is found with the Silero voice-activity detector that faster-whisper ships inside its
   package (``faster_whisper/assets/silero_vad_v6.onnx``, run by onnxruntime): a packaged
   asset, not a download, so this step needs nothing from the model store. It runs on the
   whole chunk, the overlap included, so an utterance that began before the chunk's owned part
   keeps its start.
2. Each utterance is cut into equal pieces of at most ``max_segment_s`` (the classifier was
   trained on single utterances of a few seconds; very long inputs blur the estimate and cost
   quadratic attention). Pieces shorter than ``min_segment_s`` are dropped: a few hundred
   milliseconds carry too little prosody to call.
3. A piece is classified on all its samples, including any part that lies in the overlap
   (context), but its record covers only the part the chunk owns, so no second of speech is
   reported twice across chunks. A piece entirely in the overlap belonged to the previous chunk.
4. Scores are a softmax over the classes (IEMOCAP emotion is single-label). Superb's short
   codes become words (``neu`` -> ``neutral``...); labels not recognised are kept as they are.

Loading: the pinned repository has only a pickle checkpoint (``pytorch_model.bin``, no
safetensors). transformers 5 reads ``.bin`` files with ``torch.load(weights_only=True)``
(``modeling_utils.load_state_dict``; ``weights_only`` defaults to True in ``from_pretrained``,
and is passed explicitly here so that a change of default cannot loosen it): the unpickler
accepts tensors and plain containers only, so a checkpoint that smuggles code (a global such as
``os.system`` in a ``__reduce__``) fails to load instead of running. Safetensors would still be
preferred if the store held them.
"""

from __future__ import annotations

import math
import pickle
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from tiktok_analyzer.audio.analyzers.audio_events import (
    DType,
    require_complete,
    resample,
    torch_dtype,
)
from tiktok_analyzer.shared.contracts.events import Group
from tiktok_analyzer.shared.contracts.results import LabelScore, SpanRecord, StrictSummary
from tiktok_analyzer.shared.runtime.analyzers import (
    Analyzer,
    AnalyzerConfig,
    AudioInput,
    AudioPolicy,
    LoadContext,
)
from tiktok_analyzer.shared.runtime.gpu import free_accelerator_memory

VAD_RATE = 16_000  # the rate Silero VAD is run at (it supports 8 and 16 kHz)
MIN_REPORTED_S = 0.1  # an owned part shorter than this is a sliver at a chunk boundary

# Short codes of the IEMOCAP-style emotion classifiers (superb and its relatives).
EMOTION_WORDS = {
    "neu": "neutral",
    "hap": "happy",
    "ang": "angry",
    "sad": "sad",
    "exc": "excited",
    "fru": "frustrated",
    "sur": "surprised",
    "fea": "fearful",
    "dis": "disgusted",
    "cal": "calm",
}


def emotion_word(label: str) -> str:
    return EMOTION_WORDS.get(label.strip().lower(), label)


class SpeechEmotionConfig(AnalyzerConfig):
    kind: Literal["speech_emotion"] = "speech_emotion"
    vad_threshold: float = Field(default=0.5, gt=0.0, lt=1.0,
                                 description="Silero speech probability that starts speech")
    min_silence_s: float = Field(default=0.3, ge=0.0,
                                 description="A pause at least this long ends an utterance")
    speech_pad_s: float = Field(default=0.1, ge=0.0,
                                description="Added either side of each utterance")
    min_segment_s: float = Field(default=0.75, gt=0.0,
                                 description="Shorter pieces of speech are not classified")
    max_segment_s: float = Field(default=6.0, gt=0.0,
                                 description="Longer utterances are split into equal pieces")
    dtype: DType = Field(default="auto", description="auto: float16 on CUDA, float32 on CPU")

    @model_validator(mode="after")
    def _lengths(self) -> SpeechEmotionConfig:
        # Splitting an utterance just over max_segment_s gives two pieces of just over half of
        # it; each must still reach min_segment_s, or splitting would drop speech.
        if self.max_segment_s < 2 * self.min_segment_s:
            raise ValueError("max_segment_s must be at least twice min_segment_s")
        return self


class SpeechEmotionSegment(SpanRecord):
    """One piece of speech, ``t`` to ``end_t`` in seconds from the video start."""

    emotion: str = Field(description="The class with the highest score")
    scores: list[LabelScore] = Field(description="Every class, softmax, highest first")


def split_evenly(start: int, end: int, longest: int) -> list[tuple[int, int]]:
    """``[start, end)`` in the fewest equal pieces of at most ``longest`` samples."""
    if end <= start:
        return []
    count = max(1, math.ceil((end - start) / longest))
    edges = [start + round(i * (end - start) / count) for i in range(count + 1)]
    return [(edges[i], edges[i + 1]) for i in range(count)]


def plan_pieces(utterances: list[tuple[int, int]], owned_from: int, rate: int,
                cfg: SpeechEmotionConfig) -> list[tuple[int, int, int]]:
    """``(audio_start, report_start, end)`` in chunk samples for each piece to classify: the
    model hears ``[audio_start, end)``, the record covers ``[report_start, end)``."""
    shortest, longest = round(cfg.min_segment_s * rate), round(cfg.max_segment_s * rate)
    pieces = []
    for start, end in utterances:
        for a, b in split_evenly(start, end, longest):
            if b - a < shortest or b - max(a, owned_from) < MIN_REPORTED_S * rate:
                continue
            pieces.append((a, max(a, owned_from), b))
    return pieces


class SpeechEmotionSummary(StrictSummary):
    dominant_emotion: str | None = None
    emotion_shares: dict[str, float] = Field(
        default_factory=dict, description="Share of speech time per top emotion")
    speech_s: float = 0.0
    segments: int = 0


class SpeechEmotionAnalyzer(Analyzer[SpeechEmotionConfig, AudioInput, SpeechEmotionSegment,
                                     SpeechEmotionSummary]):
    key: ClassVar[str] = "speech_emotion"
    group: ClassVar[Group] = Group.AUDIO
    version: ClassVar[str] = "1"
    batch_size: ClassVar[int] = 8  # pieces per forward pass where padding is safe (see scores)
    inputs = AudioPolicy()
    config_model = SpeechEmotionConfig
    record_model = SpeechEmotionSegment
    summary_model = SpeechEmotionSummary
    model_entry = "speech_emotion"

    def summarize(self, records: Sequence[SpeechEmotionSegment]) -> SpeechEmotionSummary:
        # Each piece of speech votes for its top emotion with its duration.
        time: dict[str, float] = defaultdict(float)
        for r in records:
            time[r.emotion] += max(0.0, r.end_t - r.t)
        total = sum(time.values())
        shares = ({k: round(v / total, 4)
                   for k, v in sorted(time.items(), key=lambda kv: -kv[1])}
                  if total > 0 else {})
        return SpeechEmotionSummary(dominant_emotion=next(iter(shares), None),
                                    emotion_shares=shares, speech_s=round(total, 3),
                                    segments=len(records))

    def load(self, context: LoadContext) -> None:
        pinned, folder = context.model_store.require(self.key)
        from faster_whisper.vad import get_vad_model
        from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

        extractor = AutoFeatureExtractor.from_pretrained(folder, local_files_only=True)
        try:
            model, info = AutoModelForAudioClassification.from_pretrained(
                folder, local_files_only=True, weights_only=True, output_loading_info=True)
        except pickle.UnpicklingError as exc:
            # torch's own message ends by suggesting weights_only=False: the one thing an
            # operator must not do with this file. Say what was refused instead.
            found = [line.strip() for line in str(exc).splitlines() if "GLOBAL" in line]
            raise ValueError(
                f"refused the checkpoint in {folder}: it holds more than tensors "
                f"({'; '.join(found) or exc}); it was read with weights_only, so nothing in it "
                f"ran. Fetch it again with `tiktok-analyzer models pull {self.key}`") from exc
        # masked_spec_embed is the mask vector of pre-training (SpecAugment); inference never
        # reads it and fine-tuned checkpoints may leave it out.
        require_complete(info, pinned.model_id, training_only=("masked_spec_embed",))
        get_vad_model()  # builds the ONNX session now: a broken onnxruntime fails the load
        self.setup(model, extractor, context.device)
        self.model_id, self.model_revision = pinned.model_id, pinned.revision

    def setup(self, model: Any, extractor: Any, device: str) -> None:
        """Takes a loaded model and feature extractor (``load`` and the GPU benchmark)."""
        cfg = self.config
        self.device = device
        self.dtype = torch_dtype(cfg.dtype, device)
        self.model = model.to(device=device, dtype=self.dtype).eval()
        self.extractor = extractor
        self.rate = int(extractor.sampling_rate)
        self.labels = [emotion_word(model.config.id2label[i])
                       for i in range(model.config.num_labels)]
        # Wav2Vec2 base normalises its first convolution over time (group norm) and takes no
        # attention mask: zeros padded onto a short clip would change its features and pooled
        # mean. Such extractors say so with return_attention_mask = False; their clips then go
        # through the model one at a time. Models that take a mask are batched.
        self.batched = bool(getattr(extractor, "return_attention_mask", False))

    def warm_up(self) -> None:
        noise = np.random.default_rng(0).normal(0, 0.05, self.rate).astype(np.float32)
        self.scores([noise])

    def scores(self, clips: list[np.ndarray]) -> np.ndarray:
        """Softmax over the classes for each clip at the model's rate: ``(len(clips), labels)``."""
        import torch

        step = self.effective_batch_size if self.batched else 1
        out = []
        for i in range(0, len(clips), step):
            part = clips[i:i + step]
            features = self.extractor(part, sampling_rate=self.rate, return_tensors="pt",
                                      padding=True, return_attention_mask=self.batched)
            inputs = {"input_values": features["input_values"].to(self.device, self.dtype)}
            if self.batched:
                inputs["attention_mask"] = features["attention_mask"].to(self.device)
            with torch.inference_mode():
                logits = self.model(**inputs).logits.float()
            out.append(torch.softmax(logits, dim=-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)), np.float32)

    def speech(self, y: np.ndarray) -> list[tuple[int, int]]:
        """Utterances in ``y`` (at ``VAD_RATE``) as sample ranges."""
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        cfg = self.config
        options = VadOptions(threshold=cfg.vad_threshold,
                             min_speech_duration_ms=round(min(0.25, cfg.min_segment_s) * 1000),
                             min_silence_duration_ms=round(cfg.min_silence_s * 1000),
                             speech_pad_ms=round(cfg.speech_pad_s * 1000))
        found = get_speech_timestamps(y, options, sampling_rate=VAD_RATE)
        return [(int(s["start"]), int(s["end"])) for s in found]

    def process(self, batch: AudioInput) -> list[SpeechEmotionSegment]:
        cfg = self.config
        y = resample(batch.samples, batch.sample_rate, VAD_RATE)
        if len(y) == 0:
            return []
        owned_from = min(len(y), round(batch.overlap_samples * VAD_RATE / batch.sample_rate))
        pieces = plan_pieces(self.speech(y), owned_from, VAD_RATE, cfg)
        clips = [resample(y[a:b], VAD_RATE, self.rate) for a, _, b in pieces]
        probs = self.scores(clips)
        records = []
        for (_, a, b), p in zip(pieces, probs, strict=True):
            order = np.argsort(-p, kind="stable")
            records.append(SpeechEmotionSegment(
                t=round(batch.start_s + a / VAD_RATE, 4),
                end_t=round(batch.start_s + b / VAD_RATE, 4),
                emotion=self.labels[int(order[0])],
                scores=[LabelScore(label=self.labels[int(i)],
                                   score=round(min(1.0, max(0.0, float(p[i]))), 4))
                        for i in order]))
        return records

    def close(self) -> None:
        self.model = None
        free_accelerator_memory()
