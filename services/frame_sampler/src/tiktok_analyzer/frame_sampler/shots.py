"""A cheap hard-cut detector run on every decoded frame.

Each frame is reduced to a grid of cell means per YUV plane (16x16 cells of luma, 8x8 of each
chroma plane, each cell the mean of a 2x2 subsample), read straight from the decoder's planes with
strided numpy views: about 0.09 ms on a 1080x1920 frame that has just been decoded, against about
1.2 ms to decode it (an FFmpeg rescale to a thumbnail costs about 2.5 ms). The cut score of a
frame is the mean absolute difference of its luma grid from the previous frame's, plus half the
mean absolute difference of the two chroma grids, on the 0-255 scale: a hard cut between two
scenes scores well above 30, motion inside a shot rarely above 15 at this resolution. A frame
scoring at least ``threshold`` starts a new shot, unless the current shot is shorter than
``min_len_s`` (which also keeps a flash from counting as two cuts). The first frame always starts
a shot.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

LUMA_GRID, CHROMA_GRID = 16, 8
_SAMPLES = 2  # per cell and axis
_PLANAR_YUV = re.compile(r"^yuvj?(420|422|440|444|411|410)p(9|10|12|14|16)?(le)?$")


def _pool(grid: int) -> tuple[np.ndarray, np.ndarray]:
    """Averaging matrices: ``rows @ sub @ cols`` turns a (grid*S, grid*S) subsample into cell
    means, about four times faster than numpy's mean over a reshaped view."""
    rows = np.kron(np.eye(grid, dtype=np.float32),
                   np.full((1, _SAMPLES), 1 / _SAMPLES, dtype=np.float32))
    return rows, np.ascontiguousarray(rows.T)


_POOLS = {grid: _pool(grid) for grid in (LUMA_GRID, CHROMA_GRID)}


def _cells(plane: np.ndarray, grid: int) -> np.ndarray:
    """(grid, grid) cell means over a strided subsample of ``plane``."""
    height, width = plane.shape
    n = grid * _SAMPLES
    if height < n or width < n:  # tiny frames: nearest-neighbour indices instead
        sub = plane[(np.arange(n) * height) // n][:, (np.arange(n) * width) // n]
    else:
        sy, sx = height // n, width // n
        sub = plane[sy // 2: sy // 2 + sy * n: sy, sx // 2: sx // 2 + sx * n: sx]
    rows, cols = _POOLS[grid]
    pooled: np.ndarray = rows @ sub.astype(np.float32) @ cols
    return pooled


def _plane_array(plane: Any, dtype: type) -> np.ndarray:
    itemsize = np.dtype(dtype).itemsize
    raw: np.ndarray = np.frombuffer(plane, dtype=dtype)
    return raw.reshape(plane.height, plane.line_size // itemsize)[:, : plane.width]


# The score is one dot product: |a - b| weighted to give the luma mean plus half of each chroma
# plane's mean.
_WEIGHTS = np.concatenate([np.full(LUMA_GRID**2, 1 / LUMA_GRID**2, dtype=np.float32),
                           np.full(2 * CHROMA_GRID**2, 0.5 / CHROMA_GRID**2, dtype=np.float32)])
_FORMATS: dict[str, tuple[type, float] | None] = {}


def _planar_yuv(name: str) -> tuple[type, float] | None:
    """(sample dtype, scale to 0-255) for a planar YUV pixel format we read directly."""
    if name not in _FORMATS:
        match = _PLANAR_YUV.match(name)
        bits = int(match.group(2) or 8) if match else 0
        _FORMATS[name] = (None if not match
                          else (np.uint8, 1.0) if bits == 8
                          else (np.uint16, 255 / ((1 << bits) - 1)))
    return _FORMATS[name]


def thumbnail(frame: Any) -> np.ndarray:
    """Cell means of Y, then U, then V, flattened, on the 0-255 scale."""
    planar = _planar_yuv(frame.format.name)
    if planar is not None and len(frame.planes) >= 3:
        dtype, scale = planar
        planes = [_plane_array(frame.planes[i], dtype) for i in range(3)]
    else:  # anything else (RGB, NV12, gray, palettes): one small rescale, slower but rare
        small = frame.reformat(width=LUMA_GRID * _SAMPLES, height=LUMA_GRID * _SAMPLES,
                               format="yuv444p")
        planes, scale = [_plane_array(small.planes[i], np.uint8) for i in range(3)], 1.0
    flat = np.concatenate([_cells(planes[0], LUMA_GRID).ravel(),
                           _cells(planes[1], CHROMA_GRID).ravel(),
                           _cells(planes[2], CHROMA_GRID).ravel()])
    return flat * np.float32(scale) if scale != 1.0 else flat


class ShotDetector:
    def __init__(self, threshold: float, min_len_s: float) -> None:
        self.threshold = threshold
        self.min_len_s = min_len_s
        self.previous: np.ndarray | None = None
        self.last_start: float | None = None
        self.starts: list[float] = []

    @staticmethod
    def score(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.abs(a - b) @ _WEIGHTS)

    def update(self, frame: Any, t: float) -> bool:
        """Feed the next frame in presentation order; True if it starts a shot."""
        thumb = thumbnail(frame)
        previous, self.previous = self.previous, thumb
        if previous is None:  # the first frame
            cut = True
        else:
            cut = (self.score(previous, thumb) >= self.threshold
                   and t - (self.last_start or 0.0) >= self.min_len_s)
        if cut:
            self.last_start = t
            self.starts.append(round(t, 4))
        return cut
