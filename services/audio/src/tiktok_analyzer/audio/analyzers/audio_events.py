"""``audio_events``: speech / music / silence / other segments and AudioSet sound-event tags.

The model is an Audio Spectrogram Transformer fine-tuned on AudioSet (the lock pins
MIT/ast-finetuned-audioset-10-10-0.4593), loaded from the model store with transformers
(safetensors only). How a chunk is analysed:

1. The samples the chunk owns (after its overlap) are cut into windows of ``hop_s`` (the
   reported resolution, default 1 s); a remainder shorter than half a hop joins the window
   before it, so windows tile the owned part exactly.
2. A window whose level is below ``silence_dbfs`` is ``silence``; it is decided from energy
   alone and never shown to the model.
3. Every other window is classified on its own samples plus ``context_s`` either side, drawn
   from the chunk (the overlap is the lead-in of the first window), so a 1 s window is judged on
   2 s of sound. All windows of a chunk go through the model in one batched forward pass (or
   several of at most the analyzer's batch size). AST's position embeddings fix its input at
   ``max_length`` frames (1024, 10.24 s, for the pinned model), so the feature extractor pads
   every window to that, as the model was trained on 10 s AudioSet clips: each window costs a
   full clip's inference whatever ``hop_s``, which is why a coarser ``hop_s`` is the lever for
   CPU-only deployments (see ``benchmarks/gpu_audio_classifiers.py``).
4. Scores are per-class sigmoids: AudioSet is multi-label (a clip can be Speech and Music at
   once) and AST was trained with a binary cross-entropy per class, so a softmax would make the
   classes compete and understate both. A checkpoint whose config says
   ``problem_type = "single_label_classification"`` gets a softmax instead (``activation``).
5. The kind of a sounding window is decided from the label families (``label_family``): the
   speech score is the HIGHEST score among the speech-family labels, the music score the
   highest among the music-family labels. The larger of the two wins if it reaches
   ``min_family_score``; otherwise the window is ``other`` (noise, animals, traffic...). The
   maximum rather than the sum, because the families differ a lot in size (AudioSet has about
   9 speech labels against about 150 music labels: instruments, genres, moods), so a sum would
   favour music by breadth alone, and the top-level "Speech" and "Music" classes already carry
   their family's evidence.
6. Consecutive windows of one kind become one segment (``AudioEventSegment``): its tags are
   the top ``top_k`` labels of the windows' scores averaged by window duration; each window's
   own top tags are kept in ``windows``.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

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

Kind = Literal["speech", "music", "silence", "other"]
Family = Literal["speech", "music"]
DType = Literal["auto", "float32", "float16", "bfloat16"]

# AudioSet label names (as they appear in the id2label of AudioSet checkpoints) matched as
# whole words, case-insensitively. Speech is checked first, so "Speech synthesizer" is speech
# although "synthesizer" is an instrument. Bells and chimes are left out on purpose: AudioSet
# files "Bicycle bell" and "Church bell" next to musical bells, and a doorbell is not music.
# "Bird vocalization, bird call, bird song", "Computer keyboard" and "Burst, pop" are not music
# either. Shouts, laughter, crying and crowd babble ("Hubbub, speech noise, speech babble") are
# voices but not speech someone is making to the viewer: they count as neither family. Singing,
# rapping and humming count as music. On the 527 AudioSet classes this gives speech = indices
# 0-7 and 15, music = 27-37 and the ontology's Music branch 137-282 except the generic bells
# and chimes (200-207).
SPEECH_PATTERN = re.compile(
    r"(?<!\w)(speech(?! noise| babble)|speaking|conversation|narration|monologue|babbling"
    r"|whispering)(?!\w)", re.I)
MUSIC_PATTERN = re.compile(
    r"(?<!\w)(music|musical|(?<!bird )song|singing|choir|chant|mantra|yodeling|rapping|humming"
    r"|a capella|instrument|orchestra|string section|guitar|bass|piano|keyboard \(musical\)"
    r"|organ|synthesizer|sampler|harpsichord|drum|percussion|cymbal|hi-hat|snare|rimshot"
    r"|timpani|tambourine|maraca|gong|tabla|wood block|tubular bells|marimba|xylophone"
    r"|glockenspiel|vibraphone|steelpan|violin|fiddle|cello|pizzicato|trumpet|trombone"
    r"|french horn|saxophone|flute|clarinet|harp|harmonica|accordion|bagpipes|didgeridoo"
    r"|shofar|theremin|banjo|ukulele|mandolin|sitar|zither|strum|beatboxing"
    r"|scratching \(performance technique\)|jazz|blues|rock|(?<!burst, )pop|hip hop|reggae"
    r"|disco|techno|dubstep|electronica|trance|salsa|flamenco|opera|afrobeat|ska|funk|soul"
    r"|country|bluegrass|grunge|heavy metal|lullaby|jingle \(music\))(?!\w)",
    re.I)


def label_family(name: str) -> Family | None:
    """Which family an AudioSet label belongs to: ``speech``, ``music`` or neither (None)."""
    if SPEECH_PATTERN.search(name):
        return "speech"
    if MUSIC_PATTERN.search(name):
        return "music"
    return None


def family_indices(id2label: dict[int, str]) -> dict[Family, list[int]]:
    families: dict[Family, list[int]] = {"speech": [], "music": []}
    for index, name in sorted(id2label.items()):
        family = label_family(name)
        if family is not None:
            families[family].append(index)
    return families


class AudioEventsConfig(AnalyzerConfig):
    kind: Literal["audio_events"] = "audio_events"
    hop_s: float = Field(default=1.0, gt=0.05, le=10.0,
                         description="Length of a reported window (the segments' resolution)")
    context_s: float = Field(default=0.5, ge=0.0, le=5.0,
                             description="Audio either side of a window that the model also hears")
    silence_dbfs: float = Field(default=-50.0, description="A window below this level is silence")
    min_family_score: float = Field(
        default=0.2, ge=0.0, le=1.0,
        description="Least speech or music score for a sounding window to be speech or music "
                    "rather than other")
    top_k: int = Field(default=3, ge=1, le=20, description="Tags kept per window and segment")
    activation: Literal["auto", "sigmoid", "softmax"] = Field(
        default="auto", description="auto: softmax if the checkpoint's config says "
                                    "single_label_classification, else sigmoid (multi-label)")
    dtype: DType = Field(default="auto", description="auto: float16 on CUDA, float32 on CPU")


class WindowTags(BaseModel):
    """One window of a segment: when it was, and its own top tags."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    t: float = Field(ge=0)
    end_t: float = Field(ge=0)
    tags: list[LabelScore]


class AudioEventSegment(SpanRecord):
    """Consecutive windows of one kind, ``t`` to ``end_t`` in seconds from the video start."""

    kind: Kind
    speech_score: float = Field(ge=0, le=1, description="Best speech-family score, averaged")
    music_score: float = Field(ge=0, le=1, description="Best music-family score, averaged")
    dbfs: float = Field(description="Level over the segment (RMS, dB full scale)")
    tags: list[LabelScore] = Field(description="Top labels of the windows' averaged scores")
    windows: list[WindowTags]


@dataclass(frozen=True)
class Window:
    """A classified window: ``start``/``end`` in seconds from the video start."""

    start: float
    end: float
    kind: Kind
    dbfs: float
    scores: np.ndarray | None  # per label, None for silence (not shown to the model)
    speech: float = 0.0
    music: float = 0.0


def dbfs(y: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if len(y) else 0.0
    return 20 * math.log10(rms) if rms > 0 else -120.0


def window_bounds(first: int, end: int, hop: int) -> list[tuple[int, int]]:
    """Sample ranges of ``hop`` samples tiling ``[first, end)``; a remainder shorter than half
    a hop is folded into the window before it (a sliver gives the model nothing to go on)."""
    if end <= first:
        return []
    edges = [*range(first, end, hop), end]
    if len(edges) > 2 and edges[-1] - edges[-2] < hop / 2:
        del edges[-2]
    return list(itertools.pairwise(edges))


def family_score(scores: np.ndarray | None, indices: list[int]) -> float:
    """A family's score: its best label's (0 for a window not shown to the model, or a model
    without labels of that family)."""
    if scores is None or not indices:
        return 0.0
    return float(np.max(scores[indices]))


def window_kind(level_dbfs: float, speech: float, music: float, cfg: AudioEventsConfig) -> Kind:
    if level_dbfs < cfg.silence_dbfs:
        return "silence"
    if max(speech, music) < cfg.min_family_score:
        return "other"
    return "speech" if speech >= music else "music"


def top_tags(scores: np.ndarray, labels: dict[int, str], k: int) -> list[LabelScore]:
    order = np.argsort(-scores, kind="stable")[:k]
    return [LabelScore(label=labels.get(int(i), str(int(i))),
                       score=round(min(1.0, max(0.0, float(scores[i]))), 4)) for i in order]


def merge_windows(windows: list[Window], labels: dict[int, str], top_k: int
                  ) -> list[AudioEventSegment]:
    """Consecutive windows of one kind as one segment; scores averaged by window duration,
    levels by energy."""
    segments = []
    run: list[Window] = []
    for window in [*windows, None]:
        if run and (window is None or window.kind != run[0].kind):
            weights = np.array([w.end - w.start for w in run])
            total = float(weights.sum())
            share = weights / total if total > 0 else np.full(len(run), 1 / len(run))
            scored = [(w, s) for w, s in zip(run, share, strict=True) if w.scores is not None]
            tags: list[LabelScore] = []
            if scored:
                mean = sum(w.scores * s for w, s in scored) / sum(s for _, s in scored)
                tags = top_tags(mean, labels, top_k)
            energy = float(np.dot(share, [10 ** (w.dbfs / 10) for w in run]))
            segments.append(AudioEventSegment(
                t=run[0].start, end_t=run[-1].end, kind=run[0].kind,
                speech_score=round(float(np.dot(share, [w.speech for w in run])), 4),
                music_score=round(float(np.dot(share, [w.music for w in run])), 4),
                dbfs=round(10 * math.log10(energy), 2) if energy > 0 else -120.0,
                tags=tags,
                windows=[WindowTags(t=w.start, end_t=w.end,
                                    tags=top_tags(w.scores, labels, top_k)
                                    if w.scores is not None else [])
                         for w in run]))
            run = []
        if window is not None:
            run.append(window)
    return segments


def resample(y: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Polyphase resampling to the model's rate (the sampler already sends 16 kHz, the rate of
    both audio models, so this is a no-op in the pipeline)."""
    if rate == target:
        return y.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    g = math.gcd(rate, target)
    resampled: np.ndarray = resample_poly(y, target // g, rate // g).astype(np.float32)
    return resampled


def torch_dtype(name: DType, device: str) -> Any:
    import torch

    if name == "auto":
        # Half precision only where it is fast and supported well: CUDA. On CPU fp16 matmuls
        # are slow or missing, and bf16 loses too much for small score differences.
        return torch.float16 if device.startswith("cuda") else torch.float32
    return getattr(torch, name)


def require_complete(info: dict[str, Any], model_id: str,
                     training_only: tuple[str, ...] = ()) -> None:
    """Refuse a checkpoint that leaves weights of the network uninitialised: transformers only
    warns about missing keys and fills them with random values, and output from random weights
    must never be presented as analysis. ``training_only`` names parameters that inference
    never uses (and that some published checkpoints omit)."""
    missing = sorted(k for k in info.get("missing_keys", ())
                     if not any(part in k for part in training_only))
    mismatched = list(info.get("mismatched_keys", ()))
    if missing or mismatched:
        raise ValueError(f"checkpoint of {model_id} does not fit the architecture: "
                         f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                         f"mismatched {mismatched[:5]}")


class AudioEventsSummary(StrictSummary):
    speech_ratio: float | None = None
    music_ratio: float | None = None
    silence_ratio: float | None = None
    other_ratio: float | None = None
    covered_s: float = 0.0
    speech_s: float = 0.0
    music_s: float = 0.0
    first_speech_s: float | None = None
    top_tags: list[LabelScore] = Field(
        default_factory=list, description="Tags weighted by segment duration, silence diluting")


class AudioEventsAnalyzer(Analyzer[AudioEventsConfig, AudioInput, AudioEventSegment,
                                   AudioEventsSummary]):
    key: ClassVar[str] = "audio_events"
    group: ClassVar[Group] = Group.AUDIO
    version: ClassVar[str] = "1"
    # Windows per forward pass (an audio chunk is never split by the runner; the analyzer
    # batches its windows itself). 16 covers a 10 s chunk at the default 1 s hop in one pass.
    batch_size: ClassVar[int] = 16
    inputs = AudioPolicy()
    config_model = AudioEventsConfig
    record_model = AudioEventSegment
    summary_model = AudioEventsSummary
    model_entry = "audio_events"
    headline = ("speech_ratio",)

    def summarize(self, records: Sequence[AudioEventSegment]) -> AudioEventsSummary:
        # Shares of the time the segments cover (chunks own disjoint spans, so nothing counts
        # twice); tags weighted by segment duration, silence (which has none) diluting them.
        time: dict[str, float] = defaultdict(float)
        tag_time: dict[str, float] = defaultdict(float)
        for r in records:
            time[r.kind] += r.duration_s
            for tag in r.tags:
                tag_time[tag.label] += tag.score * r.duration_s
        total = sum(time.values())

        def ratio(kind: str) -> float | None:
            return round(time[kind] / total, 4) if total > 0 else None

        ranked = sorted(tag_time, key=lambda k: tag_time[k], reverse=True)[:5]
        return AudioEventsSummary(
            speech_ratio=ratio("speech"), music_ratio=ratio("music"),
            silence_ratio=ratio("silence"), other_ratio=ratio("other"),
            covered_s=round(total, 3), speech_s=round(time["speech"], 3),
            music_s=round(time["music"], 3),
            first_speech_s=next((r.t for r in records if r.kind == "speech"), None),
            top_tags=[LabelScore(label=k, score=min(1.0, round(tag_time[k] / total, 4)))
                      for k in ranked])

    def load(self, context: LoadContext) -> None:
        pinned, folder = context.model_store.require(self.key)
        from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

        extractor = AutoFeatureExtractor.from_pretrained(folder, local_files_only=True)
        model, info = AutoModelForAudioClassification.from_pretrained(
            folder, local_files_only=True, use_safetensors=True, output_loading_info=True)
        require_complete(info, pinned.model_id)
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
        self.labels: dict[int, str] = {int(k): v for k, v in model.config.id2label.items()}
        self.families = family_indices(self.labels)
        activation = cfg.activation
        if activation == "auto":
            single = model.config.problem_type == "single_label_classification"
            activation = "softmax" if single else "sigmoid"
        self.activation = activation

    def warm_up(self) -> None:
        noise = np.random.default_rng(0).normal(0, 0.05, 2 * self.rate).astype(np.float32)
        self.scores([noise])

    def scores(self, clips: list[np.ndarray]) -> np.ndarray:
        """Per-label scores (0..1) for each clip at the model's rate: ``(len(clips), labels)``."""
        import torch

        out = []
        step = self.effective_batch_size
        for i in range(0, len(clips), step):
            features = self.extractor(clips[i:i + step], sampling_rate=self.rate,
                                      return_tensors="pt")
            inputs = features["input_values"].to(self.device, self.dtype)
            with torch.inference_mode():
                logits = self.model(input_values=inputs).logits.float()
            probs = (torch.sigmoid(logits) if self.activation == "sigmoid"
                     else torch.softmax(logits, dim=-1))
            out.append(probs.cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)), np.float32)

    def process(self, batch: AudioInput) -> list[AudioEventSegment]:
        cfg = self.config
        y = resample(batch.samples, batch.sample_rate, self.rate)
        first = min(len(y), round(batch.overlap_samples * self.rate / batch.sample_rate))
        hop = max(1, round(cfg.hop_s * self.rate))
        context = round(cfg.context_s * self.rate)

        def at(index: int) -> float:  # chunk sample index -> seconds from the video start
            return round(batch.start_s + index / self.rate, 4)

        bounds = window_bounds(first, len(y), hop)
        levels = [dbfs(y[a:b]) for a, b in bounds]
        sounding = [i for i, level in enumerate(levels) if level >= cfg.silence_dbfs]
        probs = self.scores([y[max(0, bounds[i][0] - context):bounds[i][1] + context]
                             for i in sounding])
        by_window = dict(zip(sounding, probs, strict=True))
        windows = []
        for i, ((a, b), level) in enumerate(zip(bounds, levels, strict=True)):
            p = by_window.get(i)
            speech, music = (family_score(p, self.families[f]) for f in ("speech", "music"))
            windows.append(Window(start=at(a), end=at(b), dbfs=level, scores=p,
                                  speech=speech, music=music,
                                  kind=window_kind(level, speech, music, cfg)))
        return merge_windows(windows, self.labels, cfg.top_k)

    def close(self) -> None:
        self.model = None
        free_accelerator_memory()
