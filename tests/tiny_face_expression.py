"""A tiny, randomly initialised face-expression classifier in the official Hugging Face format,
for the ``faces`` analyzer's expression part.

``write_tiny_face_expression(folder)`` writes what the pinned trpakov/vit-face-expression holds,
under the default lock's file names: a ``ViTForImageClassification`` saved with
``save_pretrained`` (``config.json`` + ``model.safetensors``) with the seven FER-2013 classes, and
its image processor (``preprocessor_config.json``). The real repository's 228-byte processor file
dates from 2022; its text was not seen here, and its size fits the older feature-extractor form
(``feature_extractor_type`` and an integer ``size``), so ``legacy_processor=True`` writes that
form instead of ``ViTImageProcessor.save_pretrained``'s, to check the loader takes both.

Its weights are random (drawn wide, ``initializer_range``, so that the scores differ from class
to class and a wrong crop or a mixed-up order shows): tests check structure and plumbing, never
what the expression is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FER_LABELS = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
SIDE = 32  # input side of the tiny model (the real one takes 224)


def tiny_config() -> Any:
    from transformers import ViTConfig

    return ViTConfig(image_size=SIDE, patch_size=8, num_channels=3, hidden_size=16,
                     num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                     initializer_range=0.5,
                     id2label=dict(enumerate(FER_LABELS)),
                     label2id={label: i for i, label in enumerate(FER_LABELS)})


def write_tiny_face_expression(folder: Path, legacy_processor: bool = False) -> Path:
    import torch
    from transformers import ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    ViTForImageClassification(tiny_config()).eval().save_pretrained(folder)
    if legacy_processor:
        (folder / "preprocessor_config.json").write_text(json.dumps({
            "do_normalize": True, "do_resize": True,
            "feature_extractor_type": "ViTFeatureExtractor", "image_mean": [0.5, 0.5, 0.5],
            "image_std": [0.5, 0.5, 0.5], "resample": 2, "size": SIDE}))
    else:
        ViTImageProcessor(size={"height": SIDE, "width": SIDE}, image_mean=[0.5, 0.5, 0.5],
                          image_std=[0.5, 0.5, 0.5]).save_pretrained(folder)
    return folder
