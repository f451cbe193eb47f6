"""``camera_motion``: what the camera does, per segment: static, pan left or right, tilt up or
down, zoom in or out, rotation, shaky (handheld), with magnitudes.

Measured on every decoded frame (the sampler's luma thumbnails): the camera's motion from each
frame to the next is a similarity (shift, zoom, rotation) fitted with RANSAC to optical-flow
tracks (``_global_motion.py``), so a person moving in front of a still camera leaves it
still. The video is cut into windows of ``window_s`` on its clock (and at hard cuts); each
window gets the mean rates of its frames and a label:

* the strongest of pan, tilt, zoom and rotation whose rate (the window's median) reaches its
  threshold and stands out from the frame-to-frame jitter (at least half its spread), else
* ``shaky`` when the frame-to-frame jitter reaches ``shake_min``, else ``static``;
* ``unknown`` when too few frames could be measured (black or flat pictures).

Signs follow the camera: ``pan`` > 0 turns right, ``tilt`` > 0 turns up, ``zoom`` > 0 goes
in, ``roll_deg_s`` > 0 rolls clockwise (the picture turns the other way). The summary joins
neighbouring windows of one label, within a shot, into segments.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tiktok_analyzer.gpu_light.analyzers._frame_pairs import pairs, shot_pieces
from tiktok_analyzer.shared.contracts.events import Group
from tiktok_analyzer.shared.contracts.report import TimelineEvent
from tiktok_analyzer.shared.contracts.results import SpanRecord, StrictSummary
from tiktok_analyzer.shared.runtime.analyzers import (
    Analyzer,
    AnalyzerConfig,
    FramePolicy,
    FramesInput,
    VideoFacts,
)

Label = Literal["static", "pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in",
                "zoom_out", "rotation", "shaky", "unknown"]


class CameraMotionConfig(AnalyzerConfig):
    kind: Literal["camera_motion"] = "camera_motion"
    window_s: float = Field(
        default=0.5, gt=0, le=1, description="Window length, seconds (a whole number of "
                                              "windows per second)")
    pan_min: float = Field(
        default=0.05, gt=0, description="Pan or tilt rate that counts, frame widths (heights) "
                                        "per second")
    zoom_min: float = Field(default=0.05, gt=0, description="Zoom rate that counts, per second")
    roll_min_deg_s: float = Field(default=3.0, gt=0, description="Roll that counts, degrees/s")
    shake_min: float = Field(
        default=0.006, gt=0, description="Jitter that makes a window shaky: RMS of the "
                                         "frame-to-frame shift about its mean, frame widths")
    min_support: float = Field(
        default=0.2, gt=0, le=1, description="Share of tracked points that must follow the "
                                             "fitted motion for a frame to count")

    @field_validator("window_s")
    @classmethod
    def _divides_a_second(cls, value: float) -> float:
        if abs(1 / value - round(1 / value)) > 1e-6:
            raise ValueError("window_s must divide one second (1, 0.5, 0.25, ...)")
        return value


class CameraMotionRecord(SpanRecord):
    """One window of the video (cut at hard cuts)."""

    label: Label
    pan: float = Field(description="Frame widths per second, > 0: the camera turns right")
    tilt: float = Field(description="Frame heights per second, > 0: the camera turns up")
    zoom: float = Field(description="Scale change per second (log), > 0: zooming in")
    roll_deg_s: float = Field(description="Degrees per second, > 0: the camera rolls clockwise")
    shake: float = Field(ge=0, description="Jitter: RMS frame-to-frame shift about its median "
                                           "(estimated robustly), frame widths")
    shaky: bool
    support: float = Field(ge=0, le=1, description="Share of frames that could be measured")


class CameraSegment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    t: float
    end_t: float
    label: Label
    pan: float
    tilt: float
    zoom: float
    roll_deg_s: float
    shake: float


class CameraMotionSummary(StrictSummary):
    segments: list[CameraSegment] = Field(default_factory=list)
    shares: dict[Label, float] = Field(
        default_factory=dict, description="Share of the measured time per label")
    dominant: Label | None = Field(default=None, description="The label with the most time")
    moving_share: float | None = Field(
        default=None, description="Share of the measured time the camera moves (not static, "
                                  "not merely shaky)")
    shaky_share: float | None = Field(
        default=None, description="Share of the measured time with shaky footage")


_MOVES = ("pan", "tilt", "zoom", "roll")
_MAD_TO_SD = 1.4826  # median absolute deviation to standard deviation, for a Gaussian


class CameraMotionAnalyzer(Analyzer[CameraMotionConfig, FramesInput, CameraMotionRecord,
                                    CameraMotionSummary]):
    key: ClassVar[str] = "camera_motion"
    group: ClassVar[Group] = Group.GPU_LIGHT
    version: ClassVar[str] = "1"
    inputs = FramePolicy(signals=True, frames=False)
    config_model = CameraMotionConfig
    record_model = CameraMotionRecord
    summary_model = CameraMotionSummary

    def warm_up(self) -> None:
        """Import OpenCV and track once, so the first batch does not pay for it."""
        import numpy as np

        from tiktok_analyzer.gpu_light.analyzers._global_motion import CameraTracker

        thumb = (np.arange(36 * 64, dtype=np.uint32).reshape(64, 36) * 7919 % 251).astype(
            np.uint8)
        CameraTracker(64, 36).step(thumb, thumb)

    def process(self, batch: FramesInput) -> list[CameraMotionRecord]:
        from tiktok_analyzer.gpu_light.analyzers._global_motion import CameraTracker

        signals = batch.signals
        if signals is None or not len(signals.times):
            return []
        _, height, width = signals.thumbs.shape
        tracker = CameraTracker(height, width)
        pieces = shot_pieces(signals, self.config.window_s)
        frames: dict[int, list[dict[str, float]]] = defaultdict(list)
        for pair in pairs(signals, lead_in=True):
            if pair.cut:
                tracker.reset()
                continue
            motion = tracker.step(pair.before, pair.after)
            if not pair.in_span:
                continue  # history only: the previous batch reported it
            piece = next(i for i, (a, b) in enumerate(pieces) if pair.t < b - 1e-9 or
                         i == len(pieces) - 1)
            if motion.support < self.config.min_support:
                frames[piece].append({})
                continue
            frames[piece].append({
                "pan": -motion.tx / width / pair.dt, "tilt": motion.ty / height / pair.dt,
                "zoom": math.log1p(max(motion.a, -0.5)) / pair.dt,
                "roll": -math.degrees(motion.b) / pair.dt,
                "x": motion.tx / width, "y": motion.ty / width})
        return [self._window(a, b, frames[i]) for i, (a, b) in enumerate(pieces)
                if frames.get(i)]

    def _window(self, t: float, end_t: float, frames: list[dict[str, float]]
                ) -> CameraMotionRecord:
        measured = [f for f in frames if f]
        support = len(measured) / len(frames)
        if len(measured) < 2 or support < 0.5:
            return CameraMotionRecord(t=t, end_t=end_t, label="unknown", pan=0, tilt=0, zoom=0,
                                      roll_deg_s=0, shake=0, shaky=False,
                                      support=round(support, 3))
        # Medians, not means: a flash or a frame the tracker got wrong moves them little.
        mean = {k: statistics.median(f[k] for f in measured) for k in (*_MOVES, "x", "y")}
        spread = {k: _MAD_TO_SD * statistics.median(abs(f[k] - mean[k]) for f in measured)
                  for k in _MOVES}
        # The RMS of the frame-to-frame shift about its middle, estimated from its median
        # (for a Gaussian jitter the RMS of the 2-D deviation is 1.2 times its median).
        shake = 1.2 * statistics.median(math.hypot(f["x"] - mean["x"], f["y"] - mean["y"])
                                        for f in measured)
        cfg = self.config
        thresholds = {"pan": cfg.pan_min, "tilt": cfg.pan_min, "zoom": cfg.zoom_min,
                      "roll": cfg.roll_min_deg_s}
        strength = {k: abs(mean[k]) / thresholds[k] for k in _MOVES
                    if abs(mean[k]) >= thresholds[k] and abs(mean[k]) >= 0.5 * spread[k]}
        shaky = shake >= cfg.shake_min
        label: Label = "shaky" if shaky else "static"
        if strength:
            names: dict[str, Label] = {
                "pan": "pan_right" if mean["pan"] > 0 else "pan_left",
                "tilt": "tilt_up" if mean["tilt"] > 0 else "tilt_down",
                "zoom": "zoom_in" if mean["zoom"] > 0 else "zoom_out", "roll": "rotation"}
            label = names[max(strength, key=lambda k: strength[k])]
        return CameraMotionRecord(
            t=t, end_t=end_t, label=label, pan=round(mean["pan"], 4),
            tilt=round(mean["tilt"], 4), zoom=round(mean["zoom"], 4),
            roll_deg_s=round(mean["roll"], 3), shake=round(shake, 5), shaky=shaky,
            support=round(support, 3))

    def summarize_with(self, records: Sequence[CameraMotionRecord], video: VideoFacts
                       ) -> CameraMotionSummary:
        segments = _segments(records, video.shot_starts_s)
        timed: dict[Label, float] = defaultdict(float)
        for r in records:
            timed[r.label] += r.end_t - r.t
        measured = sum(v for k, v in timed.items() if k != "unknown")
        if not measured:
            return CameraMotionSummary(segments=segments)
        shares: dict[Label, float] = {k: round(v / measured, 4)
                                      for k, v in sorted(timed.items()) if k != "unknown"}
        moving = sum(v for k, v in shares.items() if k not in ("static", "shaky"))
        shaky = sum(r.end_t - r.t for r in records if r.shaky) / measured
        dominant: Label = max(shares, key=shares.__getitem__)
        return CameraMotionSummary(
            segments=segments, shares=shares, dominant=dominant, moving_share=round(moving, 4),
            shaky_share=round(shaky, 4))

    def timeline(self, summary: CameraMotionSummary, records: Sequence[CameraMotionRecord]
                 ) -> list[TimelineEvent]:
        return [TimelineEvent(t=s.t, analyzer=self.key, label=f"camera {s.label}")
                for s in summary.segments if s.label not in ("static", "unknown")]


def _segments(records: Sequence[CameraMotionRecord], shot_starts: Sequence[float]
              ) -> list[CameraSegment]:
    """Neighbouring windows of one label joined, never across a shot start; rates are the
    time-weighted means of the windows'."""
    groups: list[list[CameraMotionRecord]] = []
    for r in records:
        last = groups[-1][-1] if groups else None
        split = last is None or any(last.t < s <= r.t + 1e-6 for s in shot_starts)
        if last is not None and not split and last.label == r.label and r.t - last.end_t < 1e-3:
            groups[-1].append(r)
        else:
            groups.append([r])
    out = []
    for group in groups:
        weights = [r.end_t - r.t for r in group]
        total = sum(weights) or 1.0

        def mean(name: str, g: list[CameraMotionRecord] = group,
                 w: list[float] = weights, n: float = total) -> float:
            return round(sum(float(getattr(r, name)) * x for r, x in zip(g, w, strict=True)) / n,
                         4)

        out.append(CameraSegment(t=group[0].t, end_t=group[-1].end_t, label=group[0].label,
                                 pan=mean("pan"), tilt=mean("tilt"), zoom=mean("zoom"),
                                 roll_deg_s=mean("roll_deg_s"), shake=mean("shake")))
    return out
