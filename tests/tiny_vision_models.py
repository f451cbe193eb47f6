"""Tiny, randomly initialised vision models in the official formats of the pinned weights.

Written under the default lock's file names, so that ``ModelStore(root)`` finds them and the
analyzers load them through their production path:

- ``scene_labels``: an open_clip CLIP whose ``state_dict()`` is saved with safetensors as
  ``open_clip_model.safetensors``, the way open_clip publishes it on the hub
  (``push_to_hf_hub``). The architecture is a tiny model config registered with
  ``open_clip.add_model_config`` under ``TINY_CLIP``; the analyzer is told its name through its
  ``architecture`` setting, as production is told ``ViT-B-32``. The text tower keeps CLIP's
  vocabulary (49,408 tokens) and context (77), since the real tokenizer feeds it.
- ``segmentation``: a ``SegformerForSemanticSegmentation`` saved with ``save_pretrained``
  (``config.json`` + ``model.safetensors``) with ADE20K's 150 class names as ``id2label``, and
  a ``preprocessor_config.json`` in the legacy form the pinned nvidia repository holds
  (``SegformerFeatureExtractor``, ``size`` as one number, ``reduce_labels``).

``size="real"`` gives the published architectures (ViT-B-32 at 224 px, SegFormer-b0) with
random weights, for timing. Their outputs are random: tests check structure, never content.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TINY_CLIP = "tiny-test-clip"
TINY_CLIP_CONFIG: dict[str, Any] = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16,
                   "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2,
                 "layers": 1},
}

# ADE20K's 150 classes in SceneParsing order, as the id2label of nvidia's SegFormer ADE20K
# checkpoints spells them (mmsegmentation's list, "bed " with its trailing space and
# "conveyer belt" included).
ADE20K_CLASSES = [
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed ", "windowpane",
    "grass", "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant",
    "curtain", "chair", "car", "water", "painting", "sofa", "shelf", "house", "sea", "mirror",
    "rug", "field", "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp", "bathtub",
    "railing", "cushion", "base", "box", "column", "signboard", "chest of drawers", "counter",
    "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand", "path", "stairs",
    "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge",
    "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill", "bench",
    "countertop", "stove", "palm", "kitchen island", "computer", "swivel chair", "boat", "bar",
    "arcade machine", "hovel", "bus", "towel", "light", "truck", "tower", "chandelier",
    "awning", "streetlight", "booth", "television receiver", "airplane", "dirt track",
    "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle", "buffet",
    "poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer",
    "plaything", "swimming pool", "stool", "barrel", "basket", "waterfall", "tent", "bag",
    "minibike", "cradle", "oven", "ball", "food", "step", "tank", "trade name", "microwave",
    "pot", "animal", "bicycle", "lake", "dishwasher", "screen", "blanket", "sculpture", "hood",
    "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen", "plate",
    "monitor", "bulletin board", "shower", "radiator", "glass", "clock", "flag",
]
assert len(ADE20K_CLASSES) == 150


def register_tiny_clip(folder: Path) -> str:
    """Registers the tiny CLIP architecture with open_clip (a config file, as open_clip keeps
    its own) and returns its name."""
    import open_clip  # type: ignore[import-untyped]

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{TINY_CLIP}.json"
    path.write_text(json.dumps(TINY_CLIP_CONFIG))
    if TINY_CLIP not in open_clip.list_models():
        open_clip.add_model_config(path)
    return TINY_CLIP


def write_clip(folder: Path, architecture: str, seed: int = 0) -> None:
    """A random CLIP of ``architecture`` as ``open_clip_model.safetensors``."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = open_clip.create_model(architecture, pretrained=None)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "open_clip_model.safetensors"))


def segformer_config(size: str = "tiny") -> Any:
    from transformers import SegformerConfig

    id2label = dict(enumerate(ADE20K_CLASSES))
    label2id = {name: i for i, name in enumerate(ADE20K_CLASSES)}
    if size == "real":  # nvidia/segformer-b0-finetuned-ade-512-512 (mit-b0 + all-MLP head)
        return SegformerConfig(hidden_sizes=[32, 64, 160, 256], depths=[2, 2, 2, 2],
                               num_attention_heads=[1, 2, 5, 8], decoder_hidden_size=256,
                               id2label=id2label, label2id=label2id)
    return SegformerConfig(hidden_sizes=[8, 16, 16, 32], depths=[1, 1, 1, 1],
                           num_attention_heads=[1, 1, 2, 2], decoder_hidden_size=16,
                           id2label=id2label, label2id=label2id)


def write_segformer(folder: Path, size: str = "tiny", image_size: int = 64,
                    seed: int = 0) -> None:
    import torch
    from transformers import SegformerForSemanticSegmentation

    torch.manual_seed(seed)
    SegformerForSemanticSegmentation(segformer_config(size)).save_pretrained(folder)
    # The pinned repository's preprocessor_config.json predates image processors; written the
    # same way so that loading it is tested too (the real one says size 512).
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "do_normalize": True, "do_resize": True,
        "feature_extractor_type": "SegformerFeatureExtractor",
        "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225],
        "reduce_labels": True, "resample": 2, "size": image_size,
    }, indent=2))


def time_per_frame(size: str = "tiny", frames: int = 8, repeats: int = 2) -> dict[str, float]:
    """Seconds per frame of each analyzer on CPU with one torch thread, models of ``size``
    (random weights) written to a temporary store and loaded by the analyzers' own ``load()``;
    one batch of ``frames`` 9:16 frames at the size the groups send them (scene_labels:
    270x480, segmentation: 360x640). The best of ``repeats`` runs after a warm-up, wall clock
    and process CPU time."""
    import tempfile
    import time

    import numpy as np
    import torch

    from tiktok_analyzer.gpu_heavy.analyzers.segmentation import SegmentationAnalyzer
    from tiktok_analyzer.gpu_light.analyzers.scene_labels import (
        SceneLabelsAnalyzer,
        SceneLabelsConfig,
    )
    from tiktok_analyzer.shared.runtime.analyzers import (
        DecodedFrame,
        FramesInput,
        LoadContext,
    )
    from tiktok_analyzer.shared.runtime.models import ModelStore

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = ModelStore(Path(tmp) / "models")
        architecture = (register_tiny_clip(Path(tmp) / "configs") if size == "tiny"
                        else "ViT-B-32")
        write_clip(store.folder("scene_labels"), architecture)
        write_segformer(store.folder("segmentation"), size, 64 if size == "tiny" else 512)
        analyzers: list[Any] = [
            (SceneLabelsAnalyzer(SceneLabelsConfig(architecture=architecture)), (480, 270)),
            (SegmentationAnalyzer(), (640, 360)),
        ]
        for analyzer, (height, width) in analyzers:
            analyzer.load(LoadContext(store, "cpu"))
            batch = FramesInput("timing", 0, [
                DecodedFrame(i, float(i), rng.integers(0, 255, (height, width, 3), np.uint8))
                for i in range(frames)])
            analyzer.process(FramesInput("timing", 0, batch.frames[:1]))
            wall = cpu = float("inf")
            for _ in range(repeats):
                start, start_cpu = time.perf_counter(), time.process_time()
                analyzer.process(batch)
                wall = min(wall, time.perf_counter() - start)
                cpu = min(cpu, time.process_time() - start_cpu)
            # CPU time as well: on a shared machine the wall clock also counts waiting.
            results[f"{analyzer.key} wall"] = round(wall / frames, 4)
            results[f"{analyzer.key} cpu"] = round(cpu / frames, 4)
            analyzer.close()
    return results


if __name__ == "__main__":  # python tests/tiny_vision_models.py [tiny|real] [frames] [repeats]
    import sys

    args = sys.argv[1:]
    print(time_per_frame(args[0] if args else "tiny", *(int(a) for a in args[1:3])))
