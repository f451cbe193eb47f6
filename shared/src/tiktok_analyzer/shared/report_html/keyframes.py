"""One keyframe per shot, taken from the source video where it is reachable.

The report holds no images. Its shots are the sampler's ``shot start`` events on the timeline
(from the sampling manifest) with the first shot starting at 0; the keyframe of a shot is the
first frame shown at or after its start, decoded with PyAV, turned upright with square pixels
as the report's ``media`` describes, and encoded as a small JPEG. PyAV and Pillow are imported
only here and only when a video is given, so the renderer itself needs neither; without them,
or without the video, the strip is drawn without images (``KeyframeError`` says why).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tiktok_analyzer.shared.report_html.records import Json, media_of, number

SHOT_START_LABEL = "shot start"
SAMPLER = "sampler"
DEFAULT_MAX_SIDE = 360
READ_TIMEOUT_S = 30.0


class KeyframeError(Exception):
    """The keyframes could not be taken (no video, unreadable, no decoder); the page is
    drawn without them."""


@dataclass(frozen=True)
class Keyframe:
    t: float
    jpeg: bytes
    width: int
    height: int

    def data_uri(self) -> str:
        return "data:image/jpeg;base64," + base64.b64encode(self.jpeg).decode("ascii")


def shot_starts(doc: Json) -> list[float]:
    """Where each shot starts, in video seconds: 0 and the sampler's ``shot start`` events."""
    media = media_of(doc)
    if media is None or not media.has_video:
        return []  # rejected, or audio only: no shots
    cuts = {t for e in doc.get("timeline") or [] if isinstance(e, dict)
            and e.get("analyzer") == SAMPLER and e.get("label") == SHOT_START_LABEL
            and (t := number(e.get("t"))) is not None}
    return sorted({0.0} | cuts)


def extract_keyframes(video: str | Path, doc: Json,
                      max_side: int = DEFAULT_MAX_SIDE) -> list[Keyframe]:
    """A keyframe at each shot start of the report ``doc`` from ``video`` (a path, or a URL FFmpeg
    reads). Raises ``KeyframeError`` when the video cannot be read."""
    times = shot_starts(doc)
    if not times:
        return []
    try:
        import av
        from PIL import Image
    except ImportError as exc:
        raise KeyframeError(f"no keyframes: {exc.name} is not installed") from exc
    # A URL may be presigned: its signature never goes into a message (they end up on pages).
    name = str(video) if isinstance(video, Path) else "the source video"
    media = media_of(doc)
    rotation = media.rotation_deg % 360 if media else 0
    pixel_aspect = media.pixel_aspect if media else 1.0
    frames: list[Keyframe] = []
    try:
        # A time limit per open and per read: a stalled URL must not hold the caller forever.
        with av.open(str(video), metadata_errors="ignore", timeout=READ_TIMEOUT_S) as container:
            if not container.streams.video:
                raise KeyframeError(f"no keyframes: {name} has no video stream")
            stream = container.streams.video[0]
            # Report times count from the container's start, as the sampler counts them.
            start = float(container.start_time or 0) / 1_000_000
            for t in times:
                frame = _frame_at(container, stream, start + t)
                if frame is None:
                    continue
                image = frame.to_image()
                frames.append(_keyframe(Image, image, t, rotation, pixel_aspect, max_side))
    except KeyframeError:
        raise
    except Exception as exc:  # PyAV raises its own error types for every kind of bad input
        why = str(exc).replace(str(video), name)
        raise KeyframeError(f"no keyframes: cannot read {name}: {why}") from exc
    return frames


def _frame_at(container: Any, stream: Any, at_s: float) -> Any | None:
    """The first decoded frame whose time is at or after ``at_s`` (seek, then decode on)."""
    time_base = float(stream.time_base)
    container.seek(max(0, int(at_s / time_base)), stream=stream, backward=True)
    last = None
    for frame in container.decode(stream):
        if frame.pts is None:
            continue
        last = frame
        # Half a frame of slack: a cut's timestamp is that frame's own pts, rounded.
        if frame.pts * time_base >= at_s - 0.5 / float(stream.average_rate or 30):
            return frame
    return last  # past the last frame: the last one is the closest there is


def _keyframe(image_module: Any, image: Any, t: float, rotation: int, pixel_aspect: float,
              max_side: int) -> Keyframe:
    width = max(1, round(image.width * pixel_aspect))
    height = image.height
    scale = min(1.0, max_side / max(width, height))
    image = image.resize((max(1, round(width * scale)), max(1, round(height * scale))),
                         image_module.Resampling.BILINEAR)
    if rotation:
        image = image.rotate(-rotation, expand=True)  # PIL turns counter-clockwise
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=72)
    return Keyframe(t=t, jpeg=buffer.getvalue(), width=image.width, height=image.height)


def keyframes_or_reason(video: str | Path | None, doc: Json,
                        max_side: int = DEFAULT_MAX_SIDE) -> tuple[list[Keyframe], str | None]:
    """The keyframes, or none and why: what the page shows in place of the images."""
    if not shot_starts(doc):
        return [], None
    if video is None:
        return [], "keyframes not shown: the source video was not available to the renderer"
    try:
        return extract_keyframes(video, doc, max_side), None
    except KeyframeError as exc:
        return [], str(exc)


def nearest(keyframes: Sequence[Keyframe], t: float, within_s: float = 0.05) -> Keyframe | None:
    best = min(keyframes, key=lambda k: abs(k.t - t), default=None)
    return best if best is not None and abs(best.t - t) <= within_s else None
