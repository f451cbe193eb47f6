"""How a decoded frame is shown: rotation and pixel aspect ratio, and the resize that makes the
frames every analyzer gets upright, with square pixels, at the size its group asks for.

Conventions. FFmpeg's display matrix (``VideoFrame.rotation``) gives the counter-clockwise angle
by which the coded picture is turned for display; the ``rotate`` stream tag of older files gives
the clockwise angle. Both are folded into ``rotation_cw``, the clockwise quarter turns that make a
frame upright (a phone's portrait clip: coded landscape, ``rotation_cw = 90``). Non-square pixels
are stretched horizontally, as players do: display width = coded width x sample aspect ratio.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np


def fit_within(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Scale to fit ``max_side`` on the longer side, never upscale, keep sizes even."""
    scale = min(1.0, max_side / max(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def rotation_cw_of(frame: Any, stream: Any) -> int:
    """Clockwise quarter-turn (0, 90, 180, 270) that makes ``frame`` upright."""
    ccw = frame.rotation or 0
    if ccw:
        degrees = -float(ccw)
    else:
        tag = (stream.metadata or {}).get("rotate") if stream is not None else None
        try:
            degrees = float(tag) if tag else 0.0
        except ValueError:
            degrees = 0.0
    return (round(degrees / 90) * 90) % 360


def pixel_aspect_of(stream: Any) -> Fraction:
    sar = None
    if stream is not None:
        sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    return Fraction(sar) if sar and sar > 0 else Fraction(1)


@dataclass(frozen=True)
class Geometry:
    coded_width: int
    coded_height: int
    rotation_cw: int = 0
    pixel_aspect: Fraction = Fraction(1)

    @classmethod
    def of(cls, frame: Any, stream: Any) -> Geometry:
        return cls(frame.width, frame.height, rotation_cw_of(frame, stream),
                   pixel_aspect_of(stream))

    @property
    def transposed(self) -> bool:
        return self.rotation_cw in (90, 270)

    @property
    def display_size(self) -> tuple[int, int]:
        """Upright (width, height) with square pixels, at full resolution."""
        width = max(1, round(self.coded_width * self.pixel_aspect))
        height = self.coded_height
        return (height, width) if self.transposed else (width, height)

    def target_size(self, max_side: int) -> tuple[int, int]:
        """Upright (width, height) of a frame sent to a group with this ``max_side``."""
        return fit_within(*self.display_size, max_side)

    def upright_rgb(self, frame: Any, max_side: int, scaler: Scaler | None = None
                    ) -> np.ndarray:
        """``frame`` resized for ``max_side``, square pixels, turned upright: (h, w, 3) uint8."""
        width, height = self.target_size(max_side)
        if self.transposed:  # scale the coded picture to the transposed size, then turn it
            width, height = height, width
        rgb = (scaler or Scaler()).rgb(frame, width, height)
        if self.rotation_cw:
            rgb = np.rot90(rgb, k=-self.rotation_cw // 90)  # negative k turns clockwise
        return rgb


class Scaler:
    """A reusable swscale context for one output size (PyAV otherwise builds one per call and
    rebuilds it whenever the size changes). Not thread-safe: one per thread and size."""

    def __init__(self) -> None:
        from av.video.reformatter import VideoReformatter

        self._reformatter = VideoReformatter()

    def rgb(self, frame: Any, width: int, height: int) -> np.ndarray:
        return self._reformatter.reformat(frame, width=width, height=height,
                                          format="rgb24").to_ndarray()


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="JPEG", quality=quality,
                                                    optimize=False)
    return buffer.getvalue()
