"""Small measurements of every decoded frame, read straight from the decoder's planes.

Two per frame, both far cheaper than decoding it:

* the **cut grid**: cell means per YUV plane (16x16 cells of luma, 8x8 of each chroma plane,
  each cell the mean of a 2x2 subsample) through strided numpy views, about 0.1 ms on a
  1080x1920 frame (an FFmpeg rescale to a thumbnail costs about 2.5 ms). The shot detector's
  score of a frame is ``score(previous grid, grid)``: the mean absolute difference of the luma
  cells plus half that of each chroma plane, on the 0-255 scale; a hard cut between two
  scenes scores well above 30, motion inside a shot rarely above 15.
* the **luma thumbnail**: the picture upright with square pixels, up to 64 cells on its long
  side, each the mean of a 2x2 subsample, also through a strided view (about 0.2 ms). It
  travels to gpu_light, where motion and camera motion are measured on it.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from tiktok_analyzer.frame_sampler.geometry import Geometry

LUMA_GRID, CHROMA_GRID = 16, 8
THUMB_LONG_SIDE = 64
_SAMPLES = 2  # per cell and axis, cut grid
_THUMB_SAMPLES = 2  # per cell and axis, luma thumbnail
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
WEIGHTS = np.concatenate([np.full(LUMA_GRID**2, 1 / LUMA_GRID**2, dtype=np.float32),
                          np.full(2 * CHROMA_GRID**2, 0.5 / CHROMA_GRID**2, dtype=np.float32)])
_FORMATS: dict[str, tuple[type, float] | None] = {}


def score(a: np.ndarray, b: np.ndarray) -> float:
    """How different two cut grids are (0-255 scale)."""
    return float(np.abs(a - b) @ WEIGHTS)


def luma_of(grid: np.ndarray) -> np.ndarray:
    """The luma cells of a cut grid."""
    return grid[: LUMA_GRID**2]


def _planar_yuv(name: str) -> tuple[type, float] | None:
    """(sample dtype, scale to 0-255) for a planar YUV pixel format we read directly."""
    if name not in _FORMATS:
        match = _PLANAR_YUV.match(name)
        bits = int(match.group(2) or 8) if match else 0
        _FORMATS[name] = (None if not match
                          else (np.uint8, 1.0) if bits == 8
                          else (np.uint16, 255 / ((1 << bits) - 1)))
    return _FORMATS[name]


def _yuv_planes(frame: Any, fallback_size: int) -> tuple[list[np.ndarray], float]:
    """The frame's Y, U, V planes as arrays and the scale to 0-255; formats we cannot read in
    place (RGB, NV12, gray, palettes) go through one small rescale, slower but rare."""
    planar = _planar_yuv(frame.format.name)
    if planar is not None and len(frame.planes) >= 3:
        dtype, scale = planar
        return [_plane_array(frame.planes[i], dtype) for i in range(3)], scale
    small = frame.reformat(width=fallback_size, height=fallback_size, format="yuv444p")
    return [_plane_array(small.planes[i], np.uint8) for i in range(3)], 1.0


def _grid_of_planes(planes: list[np.ndarray], scale: float) -> np.ndarray:
    flat = np.concatenate([_cells(planes[0], LUMA_GRID).ravel(),
                           _cells(planes[1], CHROMA_GRID).ravel(),
                           _cells(planes[2], CHROMA_GRID).ravel()])
    return flat * np.float32(scale) if scale != 1.0 else flat


def cut_grid(frame: Any) -> np.ndarray:
    """Cell means of Y, then U, then V, flattened, on the 0-255 scale."""
    return _grid_of_planes(*_yuv_planes(frame, LUMA_GRID * _SAMPLES))


def _rgb_to_yuv(rgb: np.ndarray) -> list[np.ndarray]:
    """BT.601 limited range, as an encoder would store ``rgb``."""
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return [y, u, v]


def cut_grid_rgb(rgb: np.ndarray) -> np.ndarray:
    """``cut_grid`` of a picture given as (height, width, 3) RGB."""
    return _grid_of_planes(_rgb_to_yuv(rgb), 1.0)


class LumaThumbnailer:
    """Upright luma thumbnails of one geometry. The samples are a strided view of the plane
    (every ``stride``-th row and column, ``_THUMB_SAMPLES`` per cell and axis): cells are
    square on screen and up to ``long_side`` of them fit the long side, centred (a sliver at
    the edges is left out when the size does not divide)."""

    def __init__(self, geometry: Geometry, long_side: int = THUMB_LONG_SIDE) -> None:
        self.geometry = geometry
        k = _THUMB_SAMPLES
        cell = max(geometry.display_size) / long_side  # display pixels
        aspect = float(geometry.pixel_aspect)
        self.stride = (max(1, math.ceil(cell / k)), max(1, math.ceil(cell / (k * aspect))))
        height, width = geometry.coded_height, geometry.coded_width
        self.cells = (max(1, height // (self.stride[0] * k)),
                      max(1, width // (self.stride[1] * k)))
        self.offset = tuple(max(0, (size - n * k * s) // 2) + s // 2 for size, n, s in
                            zip((height, width), self.cells, self.stride, strict=True))

    def __call__(self, frame: Any) -> np.ndarray:
        planar = _planar_yuv(frame.format.name)
        if planar is not None:
            dtype, scale = planar
            plane = _plane_array(frame.planes[0], dtype)
        else:  # rare formats: one rescale to gray at the coded size
            small = frame.reformat(width=self.geometry.coded_width,
                                   height=self.geometry.coded_height, format="gray")
            plane, scale = _plane_array(small.planes[0], np.uint8), 1.0
        return self.of_plane(plane, scale)

    def of_plane(self, plane: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """The thumbnail of a coded luma plane (samples ``scale`` x 255 full scale)."""
        k = _THUMB_SAMPLES
        (rows, cols), (sy, sx), (oy, ox) = self.cells, self.stride, self.offset
        sub = plane[oy: oy + rows * k * sy: sy, ox: ox + cols * k * sx: sx]
        sub = sub[: rows * k, : cols * k]  # a plane shorter than it claims: whole cells only
        rows, cols = sub.shape[0] // k, sub.shape[1] // k
        wide = np.ascontiguousarray(sub[: rows * k, : cols * k]).astype(np.uint32)
        sums = wide.reshape(rows, k, cols * k).sum(axis=1).reshape(rows, cols, k).sum(axis=2)
        thumb = (np.minimum(sums * (scale / (k * k)) + 0.5, 255).astype(np.uint8)
                 if scale != 1.0 else ((sums + (k * k) // 2) // (k * k)).astype(np.uint8))
        if self.geometry.rotation_cw:
            thumb = np.rot90(thumb, k=-self.geometry.rotation_cw // 90)  # clockwise
        return np.ascontiguousarray(thumb)


def luma_thumbnail_rgb(rgb: np.ndarray, long_side: int = THUMB_LONG_SIDE) -> np.ndarray:
    """The luma thumbnail of an upright (height, width, 3) RGB picture."""
    height, width = rgb.shape[:2]
    luma = _rgb_to_yuv(rgb)[0]
    return LumaThumbnailer(Geometry(width, height), long_side).of_plane(
        np.clip(luma + 0.5, 0, 255).astype(np.uint8))
