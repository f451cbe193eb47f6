"""What ``faces``, ``pose`` and ``hands`` share: MediaPipe Tasks models built from the pinned
legacy ``.tflite`` files, frames as MediaPipe images, and box arithmetic.

The lock pins MediaPipe's legacy solution models (the files the official 0.10.21 wheel ships),
not Tasks bundles. The Tasks API of mediapipe 1.2 takes them as they are (the face detector),
or as a ``.task`` zip of two of them under fixed names (the hand and pose landmarkers): that zip
is built here in memory at load time, so the store holds only files with official checksums.
The legacy pose landmark model also lacks the input-normalisation metadata the pose landmarker
demands; ``with_image_normalization`` writes it (see there).

mediapipe is imported inside the functions: the sampler and the aggregator import the plugins
without it.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tiktok_analyzer.shared.runtime.models import PinnedModel

Box = tuple[float, float, float, float]
"""x1, y1, x2, y2 in fractions of the frame."""


def pinned_bytes(pinned: PinnedModel, folder: Path, name: str) -> bytes:
    """One pinned file of a model folder ``ModelStore.require`` returned."""
    if name not in {f.name for f in pinned.files}:
        raise KeyError(f"{pinned.model_id} pins no {name}")
    return (folder / name).read_bytes()


def task_bundle(members: Mapping[str, bytes]) -> bytes:
    """A ``.task`` file: a zip of TFLite models under the names the Tasks graph looks up.
    Stored, not deflated, as Google's own bundles are (MediaPipe maps members in place)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as bundle:
        for name, data in sorted(members.items()):
            bundle.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def with_image_normalization(model: bytes, mean: float = 0.0, std: float = 255.0) -> bytes:
    """``model`` with TFLite model metadata saying: the input is an RGB image, fed as
    ``(pixel - mean) / std``, and every output is a plain feature tensor.

    The Tasks pose landmarker reads the normalisation from this metadata and refuses a float
    model without it; the legacy ``pose_landmark_full.tflite`` predates it (the legacy graph
    normalised in a calculator: pixels to 0..1, hence 0 and 255). The metadata writer of
    mediapipe 1.2 needs a native module its wheel lacks, so the two flatbuffers are written
    here with the schema classes that wheel does ship; the weights and graph are untouched.
    """
    import flatbuffers  # type: ignore[import-untyped]
    from mediapipe.tasks.metadata import (  # type: ignore[import-untyped]
        metadata_schema_py_generated as meta,
    )
    from mediapipe.tasks.metadata import schema_py_generated as tflite

    graph = tflite.ModelT.InitFromObj(tflite.Model.GetRootAsModel(model, 0))
    if any(m.name in (b"TFLITE_METADATA", "TFLITE_METADATA") for m in graph.metadata or []):
        raise ValueError("the model already carries TFLite metadata")
    subgraph = graph.subgraphs[0]

    norm = meta.NormalizationOptionsT()
    norm.mean, norm.std = [mean], [std]
    unit = meta.ProcessUnitT()
    unit.optionsType, unit.options = meta.ProcessUnitOptions.NormalizationOptions, norm
    image_props = meta.ImagePropertiesT()
    image_props.colorSpace = meta.ColorSpaceType.RGB
    image = meta.TensorMetadataT()
    image.name, image.processUnits = "image", [unit]
    image.content = meta.ContentT()
    image.content.contentPropertiesType = meta.ContentProperties.ImageProperties
    image.content.contentProperties = image_props

    def feature(index: int) -> Any:
        tensor = meta.TensorMetadataT()
        tensor.name = f"output_{index}"
        tensor.content = meta.ContentT()
        tensor.content.contentPropertiesType = meta.ContentProperties.FeatureProperties
        tensor.content.contentProperties = meta.FeaturePropertiesT()
        return tensor

    described = meta.SubGraphMetadataT()
    described.inputTensorMetadata = [image]
    described.outputTensorMetadata = [feature(i) for i in range(len(subgraph.outputs))]
    metadata = meta.ModelMetadataT()
    metadata.name = "legacy model, input normalisation added"
    metadata.subgraphMetadata = [described]
    # Normalisation options are metadata schema 1.0.0: any parser of the Tasks API reads it.
    metadata.minParserVersion = "1.0.0"
    builder = flatbuffers.Builder(0)
    builder.Finish(metadata.Pack(builder), b"M001")

    buffer = tflite.BufferT()
    buffer.data = np.frombuffer(bytes(builder.Output()), dtype=np.uint8)
    graph.buffers.append(buffer)
    entry = tflite.MetadataT()
    entry.name, entry.buffer = "TFLITE_METADATA", len(graph.buffers) - 1
    graph.metadata = [*(graph.metadata or []), entry]
    builder = flatbuffers.Builder(0)
    builder.Finish(graph.Pack(builder), b"TFL3")
    return bytes(builder.Output())


def base_options(model: bytes) -> Any:
    from mediapipe.tasks.python.core.base_options import (  # type: ignore[import-untyped]
        BaseOptions,
    )

    return BaseOptions(model_asset_buffer=model)


def mp_image(rgb: np.ndarray) -> Any:
    """A frame (height, width, 3 uint8 RGB) as a MediaPipe image."""
    import mediapipe as mp  # type: ignore[import-untyped]

    return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))


def clamp_box(x1: float, y1: float, x2: float, y2: float) -> Box:
    """A box in fractions of the frame, clipped to it (detectors may reach past an edge)."""
    return (round(min(max(x1, 0.0), 1.0), 4), round(min(max(y1, 0.0), 1.0), 4),
            round(min(max(x2, 0.0), 1.0), 4), round(min(max(y2, 0.0), 1.0), 4))


def box_of_points(points: Sequence[tuple[float, float]]) -> Box:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return clamp_box(min(xs), min(ys), max(xs), max(ys))


def area(box: Box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def iou(a: Box, b: Box) -> float:
    inter = area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def match_by_iou(previous: Sequence[Box], current: Sequence[Box], threshold: float
                 ) -> dict[int, int]:
    """``current`` index -> ``previous`` index: greedy, highest overlap first, each used once,
    only pairs overlapping at least ``threshold``. Ties break by index, so the answer is the
    same on every run."""
    pairs = sorted(((iou(p, c), -i, -j) for i, p in enumerate(previous)
                    for j, c in enumerate(current)), reverse=True)
    taken_prev: set[int] = set()
    out: dict[int, int] = {}
    for overlap, neg_i, neg_j in pairs:
        i, j = -neg_i, -neg_j
        if overlap < threshold or overlap <= 0.0:
            break
        if i in taken_prev or j in out:
            continue
        taken_prev.add(i)
        out[j] = i
    return out
