"""Picture-quality measures on one luma frame (numpy only), for ``quality``.

Each takes a float32 luma image (0..255) and returns a number with a stated meaning; the
known-answer tests synthesize frames with each defect at a known strength.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

# --- noise --------------------------------------------------------------------------------------

# Immerkaer's mask: the difference of two Laplacians, blind to ramps and flat areas; its response
# to white Gaussian noise of sigma s has standard deviation 6 s (the mask's norm: sqrt(36)).
_MASK_NORM = 6.0


def noise_sigma(gray: np.ndarray) -> float:
    """Standard deviation of white noise in luma levels (Immerkaer 1996, with the median of the
    absolute response instead of its mean so that edges, a minority of pixels, do not count)."""
    g = gray
    conv = (g[:-2, :-2] - 2 * g[:-2, 1:-1] + g[:-2, 2:]
            - 2 * g[1:-1, :-2] + 4 * g[1:-1, 1:-1] - 2 * g[1:-1, 2:]
            + g[2:, :-2] - 2 * g[2:, 1:-1] + g[2:, 2:])
    return float(1.4826 * np.median(np.abs(conv)) / _MASK_NORM)


# --- blockiness ---------------------------------------------------------------------------------

_BLOCK = 8
_STEP_CAP = 24.0  # a natural edge counts no more than a strong block step


def _boundary_ratio(steps: np.ndarray) -> float:
    """Mean step across the 8-pixel grid's lines over the mean step elsewhere (per column)."""
    profile = np.minimum(steps, _STEP_CAP).mean(axis=0)
    on_grid = profile[_BLOCK - 1::_BLOCK]
    off_grid = np.delete(profile, np.s_[_BLOCK - 1::_BLOCK])
    return float(on_grid.mean() / off_grid.mean()) if off_grid.mean() > 0.05 else 1.0


def blockiness(gray: np.ndarray) -> float:
    """How much larger the luma steps are across the lines of an 8x8 grid from the frame's
    corner than between them (1: none; block-coded video at a low bit rate: 1.5 and more).
    Codecs and JPEG code 8x8 (or 16x16) blocks from the top-left, so their edges fall on
    that grid in a frame at the source's size; a resized frame loses the grid."""
    if min(gray.shape) < 4 * _BLOCK:
        return 1.0
    across_columns = np.abs(np.diff(gray, axis=1))
    across_rows = np.abs(np.diff(gray, axis=0)).T
    return round((_boundary_ratio(across_columns) + _boundary_ratio(across_rows)) / 2, 3)


# --- effective resolution -----------------------------------------------------------------------

_BIN = 0.01  # cycles per pixel
_DROP_DB = 4.0


def _detail_spectrum(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean power spectrum of the rows' gradient, in bins of ``_BIN`` cycles per pixel, dB.
    The gradient of natural images has a roughly flat spectrum up to the finest detail the
    picture holds; an upscaled picture's falls off at its source's Nyquist frequency."""
    rows = gray[::4] - gray[::4].mean(axis=1, keepdims=True)
    window = np.hanning(rows.shape[1]).astype(np.float32)
    power = (np.abs(np.fft.rfft(rows * window, axis=1)) ** 2).mean(axis=0)
    freq = np.fft.rfftfreq(rows.shape[1])
    power *= freq ** 2
    edges = np.arange(0.0, 0.5 + 1e-9, _BIN)
    which = np.digitize(freq, edges) - 1
    levels = np.bincount(which, weights=power, minlength=len(edges))[:len(edges) - 1]
    counts = np.bincount(which, minlength=len(edges))[:len(edges) - 1]
    centers = edges[:-1] + _BIN / 2
    keep = counts > 0
    return centers[keep], 10 * np.log10(levels[keep] / counts[keep] + 1e-12)


def _detail_limit(gray: np.ndarray) -> float:
    """Where the detail ends along the rows, as a share of the Nyquist frequency (0..1): the
    first frequency past the spectrum's peak that falls ``_DROP_DB`` below it."""
    centers, db = _detail_spectrum(gray)
    start = int(np.searchsorted(centers, 0.02))
    peak = start + int(np.argmax(db[start:]))
    below = np.nonzero(db[peak:] < db[peak] - _DROP_DB)[0]
    return float(centers[peak + below[0]] / 0.5) if below.size else 1.0


def effective_resolution(gray: np.ndarray) -> int | None:
    """The short side, in pixels, that the frame's detail needs: the frame's own short side
    when it is sharp; 540 for a 540p picture upscaled into a 1080x1920 frame. The sharper of
    the two directions counts (motion blur softens only one). None for a frame with no detail
    to judge (flat, or under 64 pixels)."""
    if min(gray.shape) < 64 or float(np.abs(np.diff(gray, axis=1)).mean()) < 0.5:
        return None
    share = max(_detail_limit(gray), _detail_limit(gray.T))
    return int(round(share * min(gray.shape) / 10) * 10)


# --- interlacing --------------------------------------------------------------------------------

_COMB_LEVEL = 12.0


def _combed(gray: np.ndarray, gap: int) -> float:
    """Share of pixels that stand out, in the same direction, from both rows ``gap`` away,
    while those two rows agree."""
    above, here, below = gray[:-2 * gap], gray[gap:-gap], gray[2 * gap:]
    level = _COMB_LEVEL
    sticks_out = (here - above) * (here - below) > level * level
    return float((sticks_out & (np.abs(above - below) < level)).mean())


def combing(gray: np.ndarray) -> float:
    """Share of the frame showing interlace combing: rows that alternate between two fields
    where something moved. Counted with neighbouring rows, less what counts with rows two
    apart (the same field), so fine texture and noise, which stand out either way, cancel."""
    if gray.shape[0] < 8:
        return 0.0
    return round(max(0.0, _combed(gray, 1) - _combed(gray[1:-1], 2)), 4)


# --- letterboxing -------------------------------------------------------------------------------

Fill = Literal["black", "solid", "blurred"]
_MIN_BAR = 0.03
_CONTRAST = 3.0
_MIN_ASPECT = 1.2  # the band is a landscape picture (4:3 is 1.33)


@dataclass(frozen=True)
class Letterboxing:
    top: float
    bottom: float
    content_aspect: float
    fill: Fill


def _row_detail(gray: np.ndarray) -> np.ndarray:
    detail: np.ndarray = np.minimum(np.abs(np.diff(gray, axis=1)), 30.0).mean(axis=1)
    return detail


def _best_band(detail: np.ndarray) -> tuple[int, int]:
    """The rows [a, b) whose detail stands out most from the rest (between-class variance of
    the two parts, searched over every band)."""
    n = len(detail)
    total = detail.sum()
    cum = np.concatenate([[0.0], np.cumsum(detail)])
    a = np.arange(n)[:, None]
    b = np.arange(1, n + 1)[None, :]
    inside_n = (b - a).astype(np.float64)
    inside = cum[b] - cum[a]
    outside_n = n - inside_n
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = inside / inside_n - (total - inside) / outside_n
        score = np.where((b > a) & (outside_n > 0), inside_n * outside_n * gap * gap, -1.0)
    flat = int(np.argmax(score))
    return flat // n, flat % n + 1


def letterboxing(gray: np.ndarray) -> Letterboxing | None:
    """A landscape picture inside a portrait frame (a common repost): a band of rows with
    detail between plain bars at the top and bottom, black, one colour, or a blurred copy
    of the picture (text on a bar is allowed: it is a minority of the bar's rows)."""
    height, width = gray.shape
    if height <= width or height < 64:
        return None
    step = max(1, height // 240)
    detail = _row_detail(gray)
    coarse = detail[: len(detail) // step * step].reshape(-1, step).mean(axis=1)
    a, b = _best_band(coarse)
    top, bottom = a * step, min(height, b * step)
    if top < _MIN_BAR * height or height - bottom < _MIN_BAR * height:
        return None
    bars = np.concatenate([detail[:top], detail[bottom:]])
    if np.median(detail[top:bottom]) < _CONTRAST * max(float(np.median(bars)), 0.5):
        return None
    aspect = width / (bottom - top)
    fill = _fill(gray[:top])
    # Both bars are made the same way; a plain sky above and blurred ground below are not bars.
    if aspect < _MIN_ASPECT or fill != _fill(gray[bottom:]):
        return None
    return Letterboxing(top=round(top / height, 4), bottom=round((height - bottom) / height, 4),
                        content_aspect=round(aspect, 3), fill=fill)


def _fill(bar: np.ndarray) -> Fill:
    """How a bar is filled, by its pixels' median and interquartile range (robust to text)."""
    low, level, high = (float(v) for v in np.percentile(bar, (25, 50, 75)))
    if high - low >= 6:
        return "blurred"
    return "black" if level < 24 else "solid"
