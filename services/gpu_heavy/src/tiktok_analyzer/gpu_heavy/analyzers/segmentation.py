"""``segmentation``: share of the picture per semantic class (ADE20K: person, sky, wall,
floor, ...) per frame, per shot and per video, and an indoor/outdoor estimate.

The lock pins nvidia/segformer-b0-finetuned-ade-512-512, loaded from the model store with
transformers (``SegformerForSemanticSegmentation``, safetensors only, every weight present or
the load fails) and its ``SegformerImageProcessor``. The 150 class names are the checkpoint's
own ``config.id2label``, so another ADE20K SegFormer (b1-b5) needs only another lock entry.

How a frame is analysed:

1. Resized keeping its aspect ratio so that its short side is ``short_side`` (default: the
   processor's size, 512 for the pinned model), both sides rounded to a multiple of 32, then
   normalised by the processor. That is the test-time scale of SegFormer's ADE20K training
   (mmsegmentation resizes the short side to 512, keeping the ratio); the processor's default,
   a 512x512 square, would squash a 9:16 frame to 56 % of its height. A batch of frames goes
   through the model in one forward call.
2. Each pixel of the model's output (a quarter of the input's resolution) gets its arg-max
   class; a class's share is its pixels over all pixels. Shares are measured on the resized
   frame, and resizing keeps area proportions, so they are shares of the frame itself.
3. A record keeps the classes of at least ``min_share`` (so its shares sum to at most 1), the
   person share (always, 0 included), and the shares of the indoor and outdoor class groups.

Per shot and per video (``summarize_with``): shares averaged over frames weighted by the time
each frame stands for; the indoor/outdoor estimate compares the outdoor group's pixels with
the indoor group's (``setting_of``): ``unknown`` when together they cover less than
``MIN_SETTING_EVIDENCE`` of the picture (a close-up of a face, a screen recording), ``outdoor``
or ``indoor`` when one has at least ``SETTING_MAJORITY`` of them, else ``mixed``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tiktok_analyzer.shared.contracts.events import Group
from tiktok_analyzer.shared.contracts.results import (
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
from tiktok_analyzer.shared.runtime.per_shot import by_shot, stand_for, weighted_mean

Setting = Literal["indoor", "outdoor", "mixed", "unknown"]
DType = Literal["auto", "float32", "float16", "bfloat16"]

# ADE20K classes (names as id2label spells them, compared lower-case and stripped) that say
# where a picture was taken. Only classes that are rarely seen on the other side: a wall,
# floor or ceiling is an interior (ADE20K labels a facade "building"), sky, vegetation,
# terrain, roads and water bodies are outdoors. Left out on purpose because they are common on
# both sides: person, door, windowpane (seen from inside and out), plant and flower (pot
# plants), car (streets and garages), light, stairs, chair, table, water (a sink, a pool),
# swimming pool, signboard, poster, screen.
OUTDOOR_CLASSES = frozenset({
    "sky", "tree", "grass", "mountain", "road", "sidewalk", "earth", "building", "house",
    "sea", "field", "sand", "skyscraper", "river", "bridge", "hill", "palm", "land",
    "dirt track", "streetlight", "traffic light", "waterfall", "lake", "pier", "tower",
    "path", "runway", "rock", "fence", "awning", "hovel", "tent", "grandstand", "boat",
    "ship", "bus", "truck", "van", "airplane", "fountain", "canopy", "pole", "bicycle",
    "minibike",
})
INDOOR_CLASSES = frozenset({
    "wall", "ceiling", "floor", "bed", "cabinet", "curtain", "sofa", "shelf", "mirror",
    "rug", "armchair", "wardrobe", "lamp", "bathtub", "cushion", "chest of drawers",
    "counter", "sink", "fireplace", "refrigerator", "pool table", "pillow", "bookcase",
    "blind", "coffee table", "toilet", "countertop", "stove", "kitchen island",
    "swivel chair", "chandelier", "television receiver", "ottoman", "washer", "cradle",
    "oven", "microwave", "dishwasher", "blanket", "sconce", "shower", "radiator", "desk",
    "painting", "towel", "bannister", "escalator", "bulletin board",
})
PERSON_CLASS = "person"
# Indoor and outdoor pixels together below this share of the picture: too little to tell.
MIN_SETTING_EVIDENCE = 0.15
# One side's share of the indoor + outdoor pixels from which it is the setting (else mixed).
SETTING_MAJORITY = 0.65


def class_name(label: str) -> str:
    """A class name as compared with the groups (ADE20K's id2label has "bed " with a space)."""
    return label.strip().lower()


def setting_of(indoor_share: float | None, outdoor_share: float | None
               ) -> tuple[Setting, float | None]:
    """The indoor/outdoor estimate and the outdoor group's part of the indoor + outdoor pixels
    (None when there is too little of either to tell)."""
    if indoor_share is None or outdoor_share is None:
        return "unknown", None
    evidence = indoor_share + outdoor_share
    if evidence < MIN_SETTING_EVIDENCE:
        return "unknown", None
    outdoor = outdoor_share / evidence
    if outdoor >= SETTING_MAJORITY:
        return "outdoor", round(outdoor, 4)
    if 1 - outdoor >= SETTING_MAJORITY:
        return "indoor", round(outdoor, 4)
    return "mixed", round(outdoor, 4)


class SegmentationConfig(AnalyzerConfig):
    kind: Literal["segmentation"] = "segmentation"
    short_side: int | None = Field(
        default=None, ge=64, le=2048,
        description="Short side of the model's input in pixels, aspect kept (None: the "
                    "image processor's size, 512 for the pinned model)")
    min_share: float = Field(
        default=0.01, ge=0.0, le=1.0,
        description="Least share of the picture for a class to be listed in a record")
    top_k: int = Field(default=5, ge=1, le=150, description="Classes listed per shot and video")
    dtype: DType = Field(default="auto", description="auto: float16 on CUDA, float32 on CPU")


class ClassShare(BaseModel):
    """A class and the share of the picture its pixels cover (0..1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str
    share: float = Field(ge=0, le=1)


class SegmentationRecord(StrictRecord):
    classes: list[ClassShare] = Field(
        description="Classes covering at least min_share of the frame, largest first")
    person_share: float | None = Field(
        ge=0, le=1, description="Share of the frame that is person (None: no such class)")
    indoor_share: float = Field(ge=0, le=1, description="Share of the indoor class group")
    outdoor_share: float = Field(ge=0, le=1, description="Share of the outdoor class group")


class SegmentationShot(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start_s: float
    end_s: float
    frames: int = Field(description="Sampled frames inside the shot (0: too short to sample)")
    top_classes: list[ClassShare] = Field(default_factory=list)
    person_share: float | None = None
    setting: Setting = "unknown"
    outdoor_ratio: float | None = Field(
        default=None, description="Outdoor pixels over indoor + outdoor pixels")


class SegmentationSummary(StrictSummary):
    top_classes: list[ClassShare] = Field(
        default_factory=list, description="Mean share over the video, weighted by time")
    person_share: float | None = Field(default=None, description="Mean share of person pixels")
    indoor_share: float | None = None
    outdoor_share: float | None = None
    setting: Setting = Field(default="unknown", description="Indoor/outdoor estimate")
    outdoor_ratio: float | None = Field(
        default=None, description="Outdoor pixels over indoor + outdoor pixels")
    shots: list[SegmentationShot] = Field(
        default_factory=list, description="Per shot (the sampler's); empty when unknown")


def mean_shares(records: Sequence[SegmentationRecord], weights: Sequence[float], top_k: int
                ) -> list[ClassShare]:
    """Each class's time-weighted mean share (0 in frames where it was under min_share)."""
    total = sum(weights)
    sums: dict[str, float] = defaultdict(float)
    for record, weight in zip(records, weights, strict=True):
        for item in record.classes:
            sums[item.label] += item.share * weight
    ranked = sorted(sums.items(), key=lambda kv: -kv[1])[:top_k]
    return [ClassShare(label=k, share=round(min(1.0, v / total), 4)) for k, v in ranked
            ] if total > 0 else []


def input_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(height, width) with the short side at ``short_side``, the ratio kept, both rounded to a
    multiple of 32 (the encoder's total stride)."""
    scale = short_side / min(height, width)
    return (max(32, round(height * scale / 32) * 32), max(32, round(width * scale / 32) * 32))


def torch_dtype(name: DType, device: str) -> Any:
    import torch

    if name == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    return getattr(torch, name)


class SegmentationAnalyzer(Analyzer[SegmentationConfig, FramesInput, SegmentationRecord,
                                    SegmentationSummary]):
    key: ClassVar[str] = "segmentation"
    group: ClassVar[Group] = Group.GPU_HEAVY
    version: ClassVar[str] = "1"
    batch_size: ClassVar[int] = 8  # frames per forward call
    # A frame every 2 s and every shot's first frame. The layout of a scene (room, sky, how
    # much of the picture a person fills) changes slowly within a shot, so the shot starts
    # catch most changes; every 2 s (rather than the heavy group's 3 s) follows a person
    # walking in or out, and SegFormer-b0 costs a few milliseconds a frame on a GPU.
    inputs = FramePolicy(every_s=2.0, shot_starts=True)
    config_model = SegmentationConfig
    record_model = SegmentationRecord
    summary_model = SegmentationSummary
    model_entry = "segmentation"

    model: Any = None  # SegformerForSemanticSegmentation once loaded

    def load(self, context: LoadContext) -> None:
        pinned, folder = context.model_store.require(self.key)
        try:
            from transformers import SegformerForSemanticSegmentation, SegformerImageProcessor
        except ImportError as exc:  # the plugin is importable without its runtime extra
            raise ConfigError("transformers is not installed: install "
                              "tiktok-analyzer-gpu-heavy[runtime]") from exc

        processor = SegformerImageProcessor.from_pretrained(folder, local_files_only=True)
        # (model, loading info) with output_loading_info, which transformers' types omit
        loaded: Any = SegformerForSemanticSegmentation.from_pretrained(
            folder, local_files_only=True, use_safetensors=True, output_loading_info=True)
        model, info = loaded
        # transformers only warns about missing weights and fills them with random values;
        # output of random weights must never be presented as analysis.
        missing, mismatched = list(info.get("missing_keys", ())), list(
            info.get("mismatched_keys", ()))
        if missing or mismatched:
            raise ValueError(f"checkpoint of {pinned.model_id} does not fit SegFormer: "
                             f"missing {missing[:5]}, mismatched {mismatched[:5]}")
        self.setup(model, processor, context.device)
        self.model_id, self.model_revision = pinned.model_id, pinned.revision

    def setup(self, model: Any, processor: Any, device: str) -> None:
        """Takes a loaded model and image processor (``load`` and benchmarks)."""
        self.device = device
        self.dtype = torch_dtype(self.config.dtype, device)
        self.model = model.to(device=device, dtype=self.dtype).eval()
        self.processor = processor
        size = processor.size
        self.short_side = self.config.short_side or int(
            min(size["height"], size["width"]) if "height" in size else size["shortest_edge"])
        self.labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        names = [class_name(label) for label in self.labels]
        self.person = names.index(PERSON_CLASS) if PERSON_CLASS in names else None
        self.indoor = [i for i, n in enumerate(names) if n in INDOOR_CLASSES]
        self.outdoor = [i for i, n in enumerate(names) if n in OUTDOOR_CLASSES]

    def warm_up(self) -> None:
        self.shares([np.full((64, 64, 3), 127, dtype=np.uint8)])

    def shares(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Share of the picture per class for each RGB image: (len(images), classes)."""
        import torch

        out = np.zeros((len(images), len(self.labels)), dtype=np.float64)
        by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for i, image in enumerate(images):  # one video's frames share a size: one call
            by_shape[image.shape].append(i)
        for shape, indices in by_shape.items():
            height, width = input_size(shape[0], shape[1], self.short_side)
            pixels = self.processor([images[i] for i in indices], return_tensors="pt",
                                    size={"height": height, "width": width})["pixel_values"]
            with torch.inference_mode():
                logits = self.model(pixel_values=pixels.to(self.device, self.dtype)).logits
            classes = logits.argmax(dim=1).flatten(1)  # (n, pixels)
            counts = torch.stack([torch.bincount(row, minlength=len(self.labels))
                                  for row in classes]).cpu().numpy()
            out[indices] = counts / classes.shape[1]
        return out

    def process(self, batch: FramesInput) -> list[SegmentationRecord]:
        return self.segment_frames(batch.frames)

    def process_many(self, batches: Sequence[FramesInput]
                     ) -> list[Sequence[SegmentationRecord]]:
        """The frames of several batches (the runner's call) in one forward pass."""
        records = self.segment_frames([f for batch in batches for f in batch.frames])
        return split_per_batch(batches, records)

    def segment_frames(self, frames: Sequence[DecodedFrame]) -> list[SegmentationRecord]:
        if not frames:
            return []
        shares = self.shares([frame.rgb for frame in frames])
        records = []
        for frame, row in zip(frames, shares, strict=True):
            kept = [i for i in np.argsort(-row, kind="stable")
                    if row[i] >= self.config.min_share and row[i] > 0]
            records.append(SegmentationRecord(
                t=frame.t,
                classes=[ClassShare(label=class_name(self.labels[i]),
                                    share=round(float(row[i]), 4)) for i in kept],
                person_share=(round(float(row[self.person]), 4) if self.person is not None
                              else None),
                indoor_share=round(float(row[self.indoor].sum()), 4),
                outdoor_share=round(float(row[self.outdoor].sum()), 4)))
        return records

    def close(self) -> None:
        self.model = None
        free_accelerator_memory()

    # --- the report ---------------------------------------------------------------------------

    def summarize_with(self, records: Sequence[SegmentationRecord], video: VideoFacts
                       ) -> SegmentationSummary:
        k = self.config.top_k
        shots = []
        for start, end, part in by_shot(records, video):
            weights = stand_for([r.t for r in part], end)
            setting, ratio = setting_of(weighted_mean([r.indoor_share for r in part], weights),
                                        weighted_mean([r.outdoor_share for r in part], weights))
            shots.append(SegmentationShot(
                start_s=start, end_s=end, frames=len(part),
                top_classes=mean_shares(part, weights, k),
                person_share=weighted_mean([r.person_share for r in part], weights),
                setting=setting, outdoor_ratio=ratio))
        weights = stand_for([r.t for r in records], video.duration_s)
        indoor = weighted_mean([r.indoor_share for r in records], weights)
        outdoor = weighted_mean([r.outdoor_share for r in records], weights)
        setting, ratio = setting_of(indoor, outdoor)
        return SegmentationSummary(
            top_classes=mean_shares(records, weights, k),
            person_share=weighted_mean([r.person_share for r in records], weights),
            indoor_share=indoor, outdoor_share=outdoor, setting=setting, outdoor_ratio=ratio,
            shots=shots)
