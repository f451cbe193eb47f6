"""Which part of a frame OCR must look at again: the cells whose pixels changed.

CRAFT detection is most of OCR's cost (about 1 s for a 480 px frame on one CPU thread against
some 0.05 s to read one line), so skipping recognition alone saves little: what saves is not
detecting where nothing changed. A frame is compared with the *reference*, the picture the
current text lines were read from, in square cells of grey mean absolute difference; JPEG noise
of a re-encoded still stays around 1-2 grey levels, a line of text appearing or changing moves
its cells by tens. Only the changed area (padded, and grown to cover every known line it
touches so that no line is cut in two) is detected again; lines elsewhere are carried over, and
a line found again whose own pixels did not change keeps its earlier reading.

The reference is updated only where the frame was looked at, so a slow change (a fade) adds up
against it until it crosses the threshold instead of slipping through frame by frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tiktok_analyzer.gpu_light.analyzers._easyocr_engine import PixelBox


@dataclass(frozen=True)
class Line:
    box: PixelBox
    text: str
    confidence: float


def cell_changes(reference: np.ndarray, gray: np.ndarray, cell: int) -> np.ndarray:
    """Mean absolute grey difference per ``cell`` x ``cell`` square (edge cells partial)."""
    diff = np.abs(gray.astype(np.int16) - reference.astype(np.int16)).astype(np.float32)
    height, width = diff.shape
    rows, cols = -(-height // cell), -(-width // cell)
    padded = np.zeros((rows * cell, cols * cell), np.float32)
    padded[:height, :width] = diff
    counts = np.zeros_like(padded)
    counts[:height, :width] = 1.0
    sums = padded.reshape(rows, cell, cols, cell).sum(axis=(1, 3))
    return np.asarray(sums / counts.reshape(rows, cell, cols, cell).sum(axis=(1, 3)))


def overlaps(a: PixelBox, b: PixelBox) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def union(a: PixelBox, b: PixelBox) -> PixelBox:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def iou(a: PixelBox, b: PixelBox) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area if area else 0.0


def changed_area(reference: np.ndarray, gray: np.ndarray, lines: list[Line], cell: int,
                 threshold: float) -> PixelBox | None:
    """The area to look at again (None: nothing changed): every changed cell, padded by a
    cell, grown until no known line crosses its border."""
    changed = cell_changes(reference, gray, cell) > threshold
    if not changed.any():
        return None
    rows, cols = np.nonzero(changed)
    height, width = gray.shape
    area = (max(0, (int(cols.min()) - 1) * cell), max(0, (int(rows.min()) - 1) * cell),
            min(width, (int(cols.max()) + 2) * cell), min(height, (int(rows.max()) + 2) * cell))
    grown = True
    while grown:
        grown = False
        for line in lines:
            if overlaps(line.box, area) and union(line.box, area) != area:
                area, grown = union(line.box, area), True
    return area


def unchanged(reference: np.ndarray, gray: np.ndarray, box: PixelBox, threshold: float) -> bool:
    x1, y1, x2, y2 = box
    a, b = reference[y1:y2, x1:x2], gray[y1:y2, x1:x2]
    if a.size == 0:
        return False
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean()) <= threshold
