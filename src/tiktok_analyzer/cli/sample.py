"""Synthesize videos with known content: a colour (solid or moving pattern) and a click track
at a known tempo. Used by the demo, the tests and the benchmarks, so nobody needs media files."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np

AUDIO_RATE = 48_000


def click_track(duration_s: float, bpm: float, rate: int = AUDIO_RATE,
                amplitude: float = 0.5) -> np.ndarray:
    """Short decaying 1 kHz clicks, one per beat, starting at t=0."""
    n = int(duration_s * rate)
    y = np.zeros(n, dtype=np.float32)
    length = int(0.03 * rate)
    k = np.arange(length)
    click = (np.sin(2 * np.pi * 1000 * k / rate) * np.exp(-k / (0.005 * rate))).astype(np.float32)
    for t in np.arange(0.0, duration_s, 60.0 / bpm):
        i = round(t * rate)
        end = min(n, i + length)
        y[i:end] += click[: end - i]
    return amplitude * y


def _pattern_frame(width: int, height: int, i: int, fps: int) -> np.ndarray:
    """A moving colour gradient with a bouncing box: enough detail for a realistic bitrate."""
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    phase = i / fps
    r = 0.5 + 0.5 * np.sin(2 * np.pi * (x + phase * 0.2))
    g = 0.5 + 0.5 * np.sin(2 * np.pi * (y * 1.5 + phase * 0.3))
    b = 0.5 + 0.5 * np.sin(2 * np.pi * (x + y + phase * 0.1))
    frame = (np.stack([r * np.ones_like(y), g * np.ones_like(x), b * np.ones_like(x * y)], axis=2)
             * 255).astype(np.uint8)
    size = max(8, min(width, height) // 5)
    bx = int((0.5 + 0.4 * np.sin(phase * 1.3)) * (width - size))
    by = int((0.5 + 0.4 * np.cos(phase * 0.9)) * (height - size))
    frame[by:by + size, bx:bx + size] = (240, 240, 240)
    return frame


def make_video(path: Path, *, duration_s: float = 6.0, width: int = 360, height: int = 640,
               fps: int = 30, color: tuple[int, int, int] = (220, 30, 30),
               pattern: Literal["solid", "moving"] = "solid", bpm: float | None = 120.0,
               preset: str = "veryfast") -> Path:
    """Write an H.264 (+ AAC click track unless ``bpm`` is None) MP4."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    frames = round(duration_s * fps)
    with av.open(str(path), "w") as out:
        vstream = out.add_stream("libx264", rate=fps)
        vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
        vstream.options = {"preset": preset, "crf": "23"}
        astream = None
        if bpm is not None:
            astream = out.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        solid = np.full((height, width, 3), color, dtype=np.uint8)
        for i in range(frames):
            rgb = solid if pattern == "solid" else _pattern_frame(width, height, i, fps)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in vstream.encode(frame):
                out.mux(packet)
        for packet in vstream.encode(None):
            out.mux(packet)
        if astream is not None:
            mux_audio(out, astream, click_track(duration_s, bpm or 120.0))
    return path


def mux_audio(out: Any, stream: Any, samples: np.ndarray) -> None:
    """Encode mono float samples at ``AUDIO_RATE`` into ``stream`` of container ``out`` (in
    AAC-sized frames) and flush the encoder."""
    import av

    for start in range(0, len(samples), 1024):
        sound = av.AudioFrame.from_ndarray(samples[None, start:start + 1024], format="flt",
                                           layout="mono")
        sound.sample_rate, sound.pts = AUDIO_RATE, start
        sound.time_base = Fraction(1, AUDIO_RATE)
        for packet in stream.encode(sound):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)
