"""Clips with known shots and known camera motion, made here (PyAV + PIL), so the shot, motion
and camera-motion tests need no media files.

A scene is a large textured picture (smooth random blobs plus fine detail, so it has structure
at every scale a detector looks at); a camera looks at it through a ``View`` (centre, zoom,
roll). A clip is a list of frames; ``encode`` writes them as H.264 at a known frame rate, so
frame ``i`` is shown at ``i / fps``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from tiktok_analyzer.shared.contracts.events import FrameBatch, Group, SamplingManifest
from tiktok_analyzer.shared.contracts.results import Record, Summary

FPS = 30
WIDTH, HEIGHT = 180, 320  # portrait, like the videos the system is for


def texture(seed: int, width: int = 900, height: int = 1200) -> np.ndarray:
    """A picture with structure at several scales: coloured blobs, edges and fine grain."""
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(seed)
    layers = []
    for cell, weight in ((150, 0.55), (40, 0.3), (10, 0.15)):
        small = rng.random((height // cell + 2, width // cell + 2, 3))
        image = Image.fromarray((small * 255).astype(np.uint8)).resize(
            (width, height), Image.Resampling.BICUBIC)
        layers.append(weight * np.asarray(image, dtype=np.float32))
    picture = np.clip(sum(layers), 0, 255).astype(np.uint8)  # type: ignore[arg-type]
    image = Image.fromarray(picture).filter(ImageFilter.SMOOTH)
    # A stretch of contrast: random blobs average towards grey.
    out = np.asarray(image, dtype=np.float32)
    out = (out - out.mean()) * 2.2 + 120 + 40 * (rng.random(3) - 0.5)
    return np.clip(out, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class View:
    """Where the camera looks: centre in scene pixels, zoom (>1: closer), roll in degrees
    (positive: the camera turns clockwise, so the picture turns counter-clockwise)."""

    x: float
    y: float
    zoom: float = 1.0
    roll_deg: float = 0.0


def shoot(scene: np.ndarray, view: View, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """The frame the camera sees: an affine resampling of the scene (bilinear)."""
    from PIL import Image

    # Output pixel (u, v) relative to the frame centre maps to the scene point
    # centre + R(roll) (u, v) / zoom, with y pointing down.
    angle = math.radians(view.roll_deg)
    cos, sin = math.cos(angle) / view.zoom, math.sin(angle) / view.zoom
    a, b = cos, -sin
    d, e = sin, cos
    c = view.x - a * width / 2 - b * height / 2
    f = view.y - d * width / 2 - e * height / 2
    image = Image.fromarray(scene).transform(
        (width, height), Image.Transform.AFFINE, (a, b, c, d, e, f),
        resample=Image.Resampling.BILINEAR)
    return np.asarray(image)


def camera(scene: np.ndarray, frames: int, start: View,
           step: Callable[[int, View], View]) -> list[np.ndarray]:
    """``frames`` frames of ``scene``, the view moved by ``step(i, view)`` after each."""
    out, view = [], start
    for i in range(frames):
        out.append(shoot(scene, view))
        view = step(i, view)
    return out


def still(scene: np.ndarray, frames: int, drift: float = 0.3) -> list[np.ndarray]:
    """A nearly static shot: the camera drifts ``drift`` pixels a frame, as a tripod shot
    with a slow reframe would (perfectly frozen pictures are rare)."""
    h, w = scene.shape[:2]
    return camera(scene, frames, View(w / 2, h / 2),
                  lambda _i, v: View(v.x + drift, v.y, v.zoom, v.roll_deg))


def blend(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    return np.clip(a.astype(np.float32) * (1 - alpha) + b.astype(np.float32) * alpha,
                   0, 255).astype(np.uint8)


def fade(frames: Sequence[np.ndarray], to_black: bool) -> list[np.ndarray]:
    """The frames dimmed linearly to black (``to_black``) or up from black; the black end is
    the frame that reaches 0."""
    n = len(frames)
    black = np.zeros_like(frames[0])
    return [blend(f, black, (i / (n - 1)) if to_black else 1 - i / (n - 1))
            for i, f in enumerate(frames)]


def dissolve(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> list[np.ndarray]:
    """``a`` mixed linearly into ``b`` (same length): frame ``i`` is ``i / (n - 1)`` of b."""
    n = len(a)
    return [blend(x, y, i / (n - 1)) for i, (x, y) in enumerate(zip(a, b, strict=True))]


def blob_over(background: np.ndarray, frames: int, radius: float,
              path: Callable[[int], tuple[float, float]], seed: int = 5) -> list[np.ndarray]:
    """A person-sized textured ellipse moving along ``path(i)`` (frame pixels) in front of a
    fixed ``background`` frame: a static camera with foreground motion."""
    skin = texture(seed, 200, 300)
    h, w = background.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    out = []
    for i in range(frames):
        cx, cy = path(i)
        inside = ((xx - cx) / radius) ** 2 + ((yy - cy) / (1.6 * radius)) ** 2 <= 1
        frame = background.copy()
        # The blob's own texture moves with it (it is an object, not a hole in the scene).
        sy = np.clip((yy - cy + 150).astype(int), 0, 299)
        sx = np.clip((xx - cx + 100).astype(int), 0, 199)
        frame[inside] = skin[sy[inside], sx[inside]]
        out.append(frame)
    return out


def encode(path: Path, frames: Iterable[np.ndarray], fps: int = FPS, crf: int = 18) -> Path:
    """H.264 (yuv420p) at ``fps``: frame ``i`` is shown at ``i / fps`` s."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": str(crf)}
        for i, rgb in enumerate(frames):
            if i == 0:
                stream.height, stream.width = rgb.shape[:2]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


# --- running the sampler and gpu_light's analyzers on a clip ----------------------------------


@dataclass
class LightRun:
    """What the sampler sent for a clip and what gpu_light's analyzers made of it, as the
    services would: every light batch through a ``GroupRunner``, the wire form in between."""

    manifest: SamplingManifest
    batches: list[FrameBatch]  # every group's
    records: dict[str, list[Record]]
    summaries: dict[str, Summary]


def run_light(path: Path, keys: Sequence[str], blobs: Path, models: Path | None = None,
              **settings: Any) -> LightRun:
    """The sampler and the light group's analyzers ``keys`` on ``path``; ``models``: a model
    store holding weights (default: an empty one)."""
    from tiktok_analyzer.frame_sampler.stage import sample_video
    from tiktok_analyzer.shared.contracts.events import MediaInfo, ObjectRef, VideoAccepted
    from tiktok_analyzer.shared.infra.blobs import LocalBlobStore, PayloadPacker
    from tiktok_analyzer.shared.runtime.analyzers import GroupRunner, LoadContext, VideoFacts
    from tiktok_analyzer.shared.runtime.consume import analyze_batch
    from tiktok_analyzer.shared.runtime.models import ModelStore
    from tiktok_analyzer.shared.runtime.plugins import discover
    from tiktok_analyzer.shared.settings import PipelineSettings, SamplingSettings

    store = LocalBlobStore(blobs)
    accepted = VideoAccepted(
        video_id=f"v-{path.stem}", source=ObjectRef(bucket="local", key=path.name),
        media=MediaInfo(container="mp4", duration_s=None, size_bytes=path.stat().st_size))
    pipeline = PipelineSettings(gpu_light=list(keys))
    events = list(sample_video(path, accepted, PayloadPacker(store, "work", 256 * 1024),
                               SamplingSettings(**settings), pipeline))
    manifest = events[-1]
    assert isinstance(manifest, SamplingManifest)
    batches = [e for e in events if isinstance(e, FrameBatch)]
    analyzers = [discover()[k]() for k in keys]
    runner = GroupRunner(Group.GPU_LIGHT, analyzers,
                         LoadContext(ModelStore(models or blobs / "no-models"), "cpu"))
    runner.load()
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in keys}
    try:
        for batch in (b for b in batches if b.group is Group.GPU_LIGHT):
            for run in analyze_batch(runner, batch, store).runs:
                assert run.status == "ok", (run.analyzer, run.reason)
                runs[run.analyzer] += run.records
    finally:
        runner.close()
    video = VideoFacts(duration_s=manifest.decoded_duration_s,
                       shot_starts_s=tuple(manifest.shot_starts_s))
    records: dict[str, list[Record]] = {}
    summaries: dict[str, Summary] = {}
    for analyzer in analyzers:
        typed = analyzer.parse_records(sorted(runs[analyzer.key], key=lambda r: r["t"]))
        records[analyzer.key] = typed
        summaries[analyzer.key] = analyzer.summarize_with(typed, video)
    return LightRun(manifest, batches, records, summaries)
