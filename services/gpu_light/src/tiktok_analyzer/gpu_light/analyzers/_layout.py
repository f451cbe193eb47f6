"""Frame geometry for ``composition`` (numpy only): boxes in fractions of the frame, the rule of
thirds, the overlays' zones, symmetry and the saliency map's summary."""

from __future__ import annotations

import itertools
import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

Box = tuple[float, float, float, float]
"""x1, y1, x2, y2 in fractions of the frame's width and height (0..1), as ``Detection``."""

Placement = Literal["power_point", "centre", "third_line", "off_grid"]
POWER_POINTS = tuple(itertools.product((1 / 3, 2 / 3), repeat=2))


class Zone(BaseModel):
    """A part of the screen the app draws over, in fractions of the frame."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    box: Box = Field(description="x1, y1, x2, y2 in fractions of the width and height")

    @model_validator(mode="after")
    def _inside_the_frame(self) -> Zone:
        x1, y1, x2, y2 = self.box
        if not (0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1):
            raise ValueError(f"zone {self.name}: box {self.box} is not inside 0..1")
        return self


# TikTok's feed on a 1080x1920 screen, after common safe-zone guides: the tabs and search at the
# top (about 190 px), the like/comment/share/profile column on the right (about 160 px wide,
# from a third of the way down), the caption, user name and sound at the bottom (about 420 px).
DEFAULT_ZONES = (
    Zone(name="top_bar", box=(0.0, 0.0, 1.0, 0.10)),
    Zone(name="right_rail", box=(0.85, 0.35, 1.0, 1.0)),
    Zone(name="caption", box=(0.0, 0.78, 0.85, 1.0)),
)


def share_inside(box: Box, zone: Box) -> float:
    """Share of ``box``'s area inside ``zone``."""
    width = min(box[2], zone[2]) - max(box[0], zone[0])
    height = min(box[3], zone[3]) - max(box[1], zone[1])
    area = (box[2] - box[0]) * (box[3] - box[1])
    return 0.0 if width <= 0 or height <= 0 or area <= 0 else width * height / area


def placement(x: float, y: float, tolerance: float) -> Placement:
    """Where a subject centred at (x, y) sits against the rule of thirds."""
    if any(abs(x - px) <= tolerance and abs(y - py) <= tolerance for px, py in POWER_POINTS):
        return "power_point"
    if abs(x - 0.5) <= tolerance and abs(y - 0.5) <= tolerance:
        return "centre"
    if any(abs(v - third) <= tolerance for v in (x, y) for third in (1 / 3, 2 / 3)):
        return "third_line"
    return "off_grid"


def thirds_distance(x: float, y: float) -> float:
    """Distance to the nearest intersection of the thirds, in fractions of the frame."""
    return min(math.hypot(x - px, y - py) for px, py in POWER_POINTS)


def symmetry(gray: np.ndarray) -> float | None:
    """Correlation of the left half with the mirrored right half (1: mirror-symmetric)."""
    half = gray.shape[1] // 2
    # Subsampled after mirroring, so that each pixel is compared with its own mirror image.
    step = max(1, max(gray.shape) // 256)
    left = gray[::step, :half:step].ravel()
    right = gray[:, ::-1][::step, :half:step].ravel()
    if left.std() < 1e-3 or right.std() < 1e-3:
        return None
    return round(float(np.corrcoef(left, right)[0, 1]), 4)


def balance(saliency: np.ndarray) -> float | None:
    """1 when the saliency's mass is split evenly between the left and right halves, 0 when
    it all sits on one side."""
    half = saliency.shape[1] // 2
    left, right = float(saliency[:, :half].sum()), float(saliency[:, -half:].sum())
    return round(1 - abs(left - right) / (left + right), 4) if left + right > 0 else None


def centroid_and_spread(weights: np.ndarray) -> tuple[tuple[float, float], float] | None:
    """Weighted centre (x, y) in fractions of the frame, and the weights' root-mean-square
    distance from it (how spread the attention is)."""
    total = float(weights.sum())
    if total <= 0:
        return None
    height, width = weights.shape
    ys, xs = np.mgrid[0:height, 0:width]
    fx, fy = (xs + 0.5) / width, (ys + 0.5) / height
    cx, cy = float((weights * fx).sum() / total), float((weights * fy).sum() / total)
    spread = math.sqrt(float((weights * ((fx - cx) ** 2 + (fy - cy) ** 2)).sum() / total))
    return (round(cx, 4), round(cy, 4)), round(spread, 4)
