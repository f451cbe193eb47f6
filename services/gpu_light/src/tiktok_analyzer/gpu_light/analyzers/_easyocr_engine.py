"""EasyOCR's CRAFT detector and English recogniser, loaded without unpickling code.

``easyocr.Reader`` loads both ``.pth`` files with ``torch.load(weights_only=False)``
(``easyocr/detection.py`` and ``recognition.py`` of 1.7.2), which runs any code a tampered file
carries. So the reader is built with ``detector=False, recognizer=False`` (it then only sets up
its character set and language tables, reads no weight file and downloads nothing), and the two
networks are built here from EasyOCR's own classes and given state dicts read with
``torch.load(weights_only=True)``: plain tensors or an error, never code. What is left of the
reader (``detect``, ``recognize``) is EasyOCR's own pre- and post-processing.

torch, easyocr and cv2 are imported inside the functions: the plugin module that uses this one
is imported by the sampler and the aggregator, which have none of them.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DETECTOR_FILE = "craft_mlt_25k.pth"
RECOGNIZER_FILE = "english_g2.pth"
PixelBox = tuple[int, int, int, int]
"""x1, y1, x2, y2 in pixels of the image it was found on."""


@dataclass(frozen=True)
class DetectParams:
    canvas_size: int
    mag_ratio: float
    text_threshold: float
    low_text: float
    link_threshold: float
    min_size: int


def _state_dict(path: Path, device: str) -> OrderedDict[str, Any]:
    import torch

    raw = torch.load(path, map_location=device, weights_only=True)
    if not isinstance(raw, dict):
        raise ValueError(f"{path.name} is not a state dict")
    # Both files were saved from nn.DataParallel: every key starts with "module.".
    return OrderedDict((k.removeprefix("module."), v) for k, v in raw.items())


class EasyOcrEngine:
    def __init__(self, folder: Path, device: str) -> None:
        # easyocr ships no type information (and pyproject's list of such packages is not
        # this module's to change), hence the ignores.
        import easyocr  # type: ignore[import-untyped]
        from easyocr.craft import CRAFT  # type: ignore[import-untyped]
        from easyocr.detection import get_textbox  # type: ignore[import-untyped]
        from easyocr.model.vgg_model import Model  # type: ignore[import-untyped]
        from easyocr.utils import CTCLabelConverter  # type: ignore[import-untyped]
        from torch import qint8
        from torch.ao.quantization import quantize_dynamic

        self.device = device
        reader = easyocr.Reader(
            ["en"], gpu=False if device == "cpu" else device,
            model_storage_directory=str(folder), download_enabled=False,
            detector=False, recognizer=False, verbose=False)
        detector = CRAFT()
        detector.load_state_dict(_state_dict(folder / DETECTOR_FILE, device))
        # english_g2 is a "generation2" network; these are EasyOCR's parameters for it.
        recognizer = Model(num_class=len(reader.character) + 1, input_channel=1,
                           output_channel=256, hidden_size=256)
        recognizer.load_state_dict(_state_dict(folder / RECOGNIZER_FILE, device))
        for net in (detector, recognizer):
            net.eval()
            if device == "cpu":  # what EasyOCR does on CPU: int8 linear/LSTM layers
                quantize_dynamic(net, dtype=qint8, inplace=True)  # type: ignore[no-untyped-call]
            else:
                net.to(device)
        reader.detector, reader.recognizer = detector, recognizer
        reader.get_textbox, reader.detect_network = get_textbox, "craft"
        dictionary = Path(easyocr.__file__).parent / "dict" / "en.txt"
        reader.converter = CTCLabelConverter(reader.character, {}, {"en": str(dictionary)})
        self.reader: Any = reader

    def detect(self, rgb: np.ndarray, params: DetectParams) -> list[PixelBox]:
        """Text line boxes on ``rgb`` (CRAFT, EasyOCR's line grouping). Rotated lines come as
        EasyOCR's free-form quadrilaterals; they are kept as their bounding rectangles."""
        horizontal, free = self.reader.detect(
            rgb, min_size=params.min_size, text_threshold=params.text_threshold,
            low_text=params.low_text, link_threshold=params.link_threshold,
            canvas_size=params.canvas_size, mag_ratio=params.mag_ratio)
        height, width = rgb.shape[:2]
        boxes = [(int(x1), int(y1), int(x2), int(y2)) for x1, x2, y1, y2 in horizontal[0]]
        for quad in free[0]:
            xs, ys = [int(p[0]) for p in quad], [int(p[1]) for p in quad]
            boxes.append((min(xs), min(ys), max(xs), max(ys)))
        clipped = [(max(0, x1), max(0, y1), min(width, x2), min(height, y2))
                   for x1, y1, x2, y2 in boxes]
        return sorted(b for b in clipped if b[2] > b[0] and b[3] > b[1])

    def recognize(self, gray: np.ndarray, boxes: list[PixelBox], batch_size: int
                  ) -> list[tuple[str, float]]:
        """The text and confidence of each box on the grey image, in the boxes' order."""
        if not boxes:
            return []
        results = self.reader.recognize(
            gray, horizontal_list=[[x1, x2, y1, y2] for x1, y1, x2, y2 in boxes],
            free_list=[], batch_size=batch_size, reformat=False, detail=1)
        if len(results) != len(boxes):
            raise RuntimeError(f"EasyOCR read {len(results)} texts for {len(boxes)} boxes")
        return [(str(text), float(conf)) for _, text, conf in results]
