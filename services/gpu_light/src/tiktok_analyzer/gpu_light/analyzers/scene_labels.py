"""``scene_labels``: zero-shot CLIP labels (setting, content category, activity) and an image
embedding per frame, per shot and per video.

The lock pins laion/CLIP-ViT-B-32-laion2B-s34B-b79K's ``open_clip_model.safetensors`` (an
open_clip state dict); the architecture (``ViT-B-32``) is a setting, ``architecture``, because
the file does not say it. ``load()`` builds the model with
``open_clip.create_model_from_pretrained(architecture, pretrained=<that file>)`` (that is
``create_model_and_transforms`` with ``require_pretrained=True``): a file path is never
resolved against the hub, and the state dict is loaded with ``strict=True``, so a file of
another architecture fails loudly instead of leaving random weights. The BPE tokenizer of
CLIP ships inside open_clip (``bpe_simple_vocab_16e6.txt.gz``), so nothing is fetched for it
either. Images go through
open_clip's own preprocessing of that model (resize, centre crop, normalise); ``resize_mode``
can letterbox or squash instead of cropping a 9:16 frame to its middle square.

How labels are made:

1. Once, at load: every label of every set (``label_sets``) is put in its set's prompt
   (``set_templates``, else ``prompt_template``; ``{}`` is the label), encoded by the text
   tower and L2-normalised.
2. Per batch: all frames go through the image tower in one forward call; each normalised image
   embedding is compared with its set's label embeddings (cosine times CLIP's learned logit
   scale) and a softmax over the set's labels gives scores that sum to 1 within the set, as in
   CLIP's zero-shot classification. A record keeps each set's ``top_k`` labels.
3. Per shot and per video (``summarize_with``, in the aggregator, where the sampler's shots are
   known): a label's score is the mean of its frame scores weighted by how long each frame
   stands for (a label outside a frame's ``top_k`` counts 0 there; set ``top_k`` to the set's
   size for exact means). The embeddings are averaged the same way and re-normalised.

Embeddings are L2-normalised, float16 little-endian, base64 (standard alphabet): 512 values of
ViT-B-32 are 1,368 characters. To decode::

    vector = np.frombuffer(base64.b64decode(text), dtype="<f2").astype(np.float32)

(``decode_embedding``). The dot product of two decoded vectors is their cosine similarity
(to float16 precision, about 1e-3): near-duplicate frames or shots score close to 1, and text
embedded with the same CLIP model can search them.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from tiktok_analyzer.shared.contracts.events import Group
from tiktok_analyzer.shared.contracts.results import (
    LabelScore,
    StrictRecord,
    StrictSummary,
)
from tiktok_analyzer.shared.errors import ConfigError
from tiktok_analyzer.shared.runtime.analyzers import (
    Analyzer,
    AnalyzerConfig,
    DecodedFrame,
    FramePolicy,
    FramesInput,
    LoadContext,
    VideoFacts,
    split_per_batch,
)
from tiktok_analyzer.shared.runtime.gpu import free_accelerator_memory
from tiktok_analyzer.shared.runtime.per_shot import ShotSpan, by_shot, stand_for

EMBEDDING_DTYPE = "<f2"  # float16, little-endian: half the size of float32, ample for cosines

DEFAULT_LABEL_SETS: dict[str, list[str]] = {
    "setting": [
        "indoor", "outdoor", "studio", "street", "nature", "beach", "kitchen", "gym",
        "car interior", "bedroom", "living room", "office", "bathroom", "restaurant", "shop",
        "stage", "park", "city", "snowy", "swimming pool",
    ],
    "content": [
        "comedy", "dance", "cooking", "beauty", "fitness", "gaming", "pets", "travel",
        "fashion", "education", "sports", "music", "food review", "vlog", "art", "technology",
        "cars", "nature",
    ],
    "activity": [
        "talking to the camera", "dancing", "cooking", "exercising", "walking", "driving",
        "eating", "singing", "playing an instrument", "playing video games", "applying makeup",
        "posing", "working on a computer", "shopping", "swimming", "reading",
    ],
}
# A prompt that reads as a caption gives CLIP's text tower the kind of sentence it was trained
# on ("a photo of a person dancing."), which scores better than the bare label.
DEFAULT_SET_TEMPLATES: dict[str, str] = {
    "setting": "a photo of a {} scene.",
    "content": "a frame from a {} video.",
    "activity": "a photo of a person {}.",
}

Precision = Literal["auto", "fp32", "fp16", "bf16"]


class SceneLabelsConfig(AnalyzerConfig):
    kind: Literal["scene_labels"] = "scene_labels"
    architecture: str = Field(
        default="ViT-B-32",
        description="open_clip model name of the pinned weights (the file does not say it)")
    label_sets: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_LABEL_SETS.items()},
        description="Label-set name -> its labels; a frame gets scores within each set")
    prompt_template: str = Field(
        default="a photo of {}.", description="Prompt of a set without its own template")
    set_templates: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_SET_TEMPLATES),
        description="Prompt per label set ({} is the label); sets not named here use "
                    "prompt_template, and names of sets that do not exist are ignored")
    top_k: int = Field(default=5, ge=1, description="Labels kept per set in each record")
    resize_mode: Literal["shortest", "longest", "squash"] = Field(
        default="shortest",
        description="shortest: resize the short side and centre-crop (CLIP's own "
                    "preprocessing); longest: letterbox the whole frame; squash: stretch it")
    precision: Precision = Field(default="auto", description="auto: fp16 on CUDA, fp32 on CPU")

    @field_validator("label_sets")
    @classmethod
    def _sets(cls, sets: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, labels in sets.items():
            if len(labels) < 2:
                raise ValueError(f"label set {name!r} needs at least two labels")
            if len(set(labels)) != len(labels):
                raise ValueError(f"label set {name!r} repeats a label")
        if not sets:
            raise ValueError("label_sets is empty")
        return sets

    @model_validator(mode="after")
    def _templates(self) -> SceneLabelsConfig:
        for template in [self.prompt_template, *self.set_templates.values()]:
            if template.count("{}") != 1:
                raise ValueError(f"prompt template {template!r} needs exactly one {{}}")
        return self

    def prompts(self, label_set: str) -> list[str]:
        template = self.set_templates.get(label_set, self.prompt_template)
        return [template.format(label) for label in self.label_sets[label_set]]


def encode_embedding(vector: np.ndarray) -> str:
    """A vector as base64 of its float16 little-endian bytes."""
    return base64.b64encode(np.asarray(vector, dtype=EMBEDDING_DTYPE).tobytes()).decode("ascii")


def decode_embedding(text: str) -> np.ndarray:
    """The float32 vector ``encode_embedding`` wrote."""
    return np.frombuffer(base64.b64decode(text), dtype=EMBEDDING_DTYPE).astype(np.float32)


def normalized(vector: np.ndarray) -> np.ndarray | None:
    """``vector`` scaled to unit length; None when it is (close to) zero (opposite frames
    cancelled out, nothing to point at)."""
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 1e-6 else None


class SceneLabelsRecord(StrictRecord):
    labels: dict[str, list[LabelScore]] = Field(
        description="Per label set: its top_k labels, softmax within the set, highest first")
    embedding: str = Field(
        description="L2-normalised image embedding, float16 little-endian, base64")


class SceneShot(ShotSpan):
    labels: dict[str, list[LabelScore]] = Field(
        default_factory=dict, description="Per label set: mean scores over the shot's frames")
    embedding: str | None = Field(
        default=None, description="Normalised mean of the frames' embeddings (same encoding)")


class SceneLabelsSummary(StrictSummary):
    labels: dict[str, list[LabelScore]] = Field(
        default_factory=dict,
        description="Per label set: scores averaged over the video, weighted by time")
    top: dict[str, str] = Field(default_factory=dict, description="Best label of each set")
    embedding: str | None = Field(
        default=None, description="Normalised, time-weighted mean of the frames' embeddings")
    shots: list[SceneShot] = Field(
        default_factory=list, description="Per shot (the sampler's); empty when unknown")


def mean_labels(records: Sequence[SceneLabelsRecord], weights: Sequence[float], top_k: int
                ) -> dict[str, list[LabelScore]]:
    """Per set, each label's weighted mean score (0 in frames where it was not kept)."""
    total = sum(weights)
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for record, weight in zip(records, weights, strict=True):
        for label_set, scores in record.labels.items():
            for item in scores:
                sums[label_set][item.label] += item.score * weight
    return {label_set: [LabelScore(label=label, score=round(min(1.0, s / total), 4))
                        for label, s in sorted(by_label.items(), key=lambda kv: -kv[1])[:top_k]]
            for label_set, by_label in sums.items()} if total > 0 else {}


def mean_embedding(records: Sequence[SceneLabelsRecord], weights: Sequence[float]
                   ) -> str | None:
    if not records:
        return None
    stacked = np.stack([decode_embedding(r.embedding) for r in records])
    vector = normalized(np.asarray(weights, dtype=np.float32) @ stacked)
    return encode_embedding(vector) if vector is not None else None


def torch_dtype_name(precision: Precision, device: str) -> str:
    if precision == "auto":
        # Half precision where it is fast: CUDA. On CPU fp16 matmuls are slow or missing.
        return "fp16" if device.startswith("cuda") else "fp32"
    return precision


class SceneLabelsAnalyzer(Analyzer[SceneLabelsConfig, FramesInput, SceneLabelsRecord,
                                   SceneLabelsSummary]):
    key: ClassVar[str] = "scene_labels"
    group: ClassVar[Group] = Group.GPU_LIGHT
    version: ClassVar[str] = "1"
    # Frames per forward call. ViT-B-32 at 224 px is about 4.4 GFLOPs a frame: 16 is one
    # sampler batch and a fraction of any GPU's memory.
    batch_size: ClassVar[int] = 16
    # The group's rate (2 fps by default) and every shot's first frame, so that each shot has
    # labels and an embedding however short it is. 224 px is all CLIP sees: the group's 480 px
    # frames are plenty.
    inputs = FramePolicy(shot_starts=True)
    config_model = SceneLabelsConfig
    record_model = SceneLabelsRecord
    summary_model = SceneLabelsSummary
    model_entry = "scene_labels"

    model: Any = None  # open_clip CLIP once loaded

    def load(self, context: LoadContext) -> None:
        pinned, folder = context.model_store.require(self.key)
        try:
            import open_clip  # type: ignore[import-untyped]
        except ImportError as exc:  # the plugin is importable without its runtime extra
            raise ConfigError("open_clip is not installed: install "
                              "tiktok-analyzer-gpu-light[runtime]") from exc
        cfg = self.config
        device = context.device
        # create_model_from_pretrained is create_model_and_transforms with
        # require_pretrained=True and only the inference transform. A path (not a tag) is
        # loaded as a file; pretrained_* False: no tower ever falls back to default weights.
        model, preprocess = open_clip.create_model_from_pretrained(
            cfg.architecture, pretrained=str(folder / pinned.files[0].name),
            precision=torch_dtype_name(cfg.precision, device), device=device,
            image_resize_mode=cfg.resize_mode, weights_only=True,
            pretrained_image=False, pretrained_text=False)
        tokenizer = open_clip.get_tokenizer(cfg.architecture)
        self.setup(model, preprocess, tokenizer, device)
        self.model_id, self.model_revision = pinned.model_id, pinned.revision

    def setup(self, model: Any, preprocess: Any, tokenizer: Any, device: str) -> None:
        """Takes a built model, its image transform and tokenizer; embeds the labels once."""
        import torch

        self.device = device
        self.model = model.eval()
        self.preprocess = preprocess
        self.dtype = next(model.parameters()).dtype
        self.sets: list[tuple[str, list[str], slice]] = []
        prompts: list[str] = []
        for label_set, labels in self.config.label_sets.items():
            self.sets.append((label_set, labels, slice(len(prompts), len(prompts) + len(labels))))
            prompts += self.config.prompts(label_set)
        with torch.inference_mode():
            text = self.model.encode_text(tokenizer(prompts).to(device), normalize=True)
            # CLIP's learned temperature, capped at 100 as in training.
            self.logit_scale = float(self.model.logit_scale.exp().clamp(max=100).item())
        self.text = text.float()  # (labels of every set, embedding dim)

    def warm_up(self) -> None:
        self.embed([np.full((64, 64, 3), 127, dtype=np.uint8)])

    def embed(self, images: Sequence[np.ndarray]) -> Any:
        """Normalised image embeddings of RGB arrays, one forward call: (n, dim) float32."""
        import torch
        from PIL import Image

        pixels = torch.stack([self.preprocess(Image.fromarray(image)) for image in images])
        with torch.inference_mode():
            return self.model.encode_image(pixels.to(self.device, self.dtype),
                                           normalize=True).float()

    def process(self, batch: FramesInput) -> list[SceneLabelsRecord]:
        return self.label_frames(batch.frames)

    def process_many(self, batches: Sequence[FramesInput]) -> list[Sequence[SceneLabelsRecord]]:
        """The frames of several batches (the runner's call) in one forward pass."""
        records = self.label_frames([f for batch in batches for f in batch.frames])
        return split_per_batch(batches, records)

    def label_frames(self, frames: Sequence[DecodedFrame]) -> list[SceneLabelsRecord]:
        import torch

        if not frames:
            return []
        embeddings = self.embed([frame.rgb for frame in frames])
        logits = self.logit_scale * embeddings @ self.text.T
        per_set = {name: (labels, torch.softmax(logits[:, span], dim=-1).cpu().numpy())
                   for name, labels, span in self.sets}
        vectors = embeddings.cpu().numpy()
        k = self.config.top_k
        records = []
        for i, frame in enumerate(frames):
            labels: dict[str, list[LabelScore]] = {}
            for name, (names, probs) in per_set.items():
                order = np.argsort(-probs[i], kind="stable")[:k]
                labels[name] = [LabelScore(label=names[j],
                                           score=round(min(1.0, float(probs[i][j])), 4))
                                for j in order]
            records.append(SceneLabelsRecord(t=frame.t, labels=labels,
                                             embedding=encode_embedding(vectors[i])))
        return records

    def close(self) -> None:
        self.model = None
        free_accelerator_memory()

    # --- the report ---------------------------------------------------------------------------

    def summarize_with(self, records: Sequence[SceneLabelsRecord], video: VideoFacts
                       ) -> SceneLabelsSummary:
        k = self.config.top_k
        shots = []
        for start, end, part in by_shot(records, video):
            weights = stand_for([r.t for r in part], end)
            shots.append(SceneShot(start_s=start, end_s=end, frames=len(part),
                                   labels=mean_labels(part, weights, k),
                                   embedding=mean_embedding(part, weights)))
        weights = stand_for([r.t for r in records], video.duration_s)
        labels = mean_labels(records, weights, k)
        return SceneLabelsSummary(
            labels=labels, top={name: scores[0].label for name, scores in labels.items() if scores},
            embedding=mean_embedding(records, weights), shots=shots)
