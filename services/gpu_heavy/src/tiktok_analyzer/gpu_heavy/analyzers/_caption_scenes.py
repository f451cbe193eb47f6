"""Which keyframes the vision-language backend of ``caption`` describes together.

A scene is a run of consecutive keyframes of one shot, at most ``max_frames`` long. The
analyzer never sees the sampler's shot list (gpu_heavy batches carry only frames), but it
can tell a shot start from the sampling grid: the sampler picks the first frame at or after
every multiple of ``every_s`` from t=0, and adds the first frame of each shot wherever it
falls. A keyframe more than ``tolerance_s`` past its grid point is therefore a shot start.
(A shot that starts within ``tolerance_s`` after a grid point is missed and joins the scene
before it; at 30 fps and 3 s, about one shot start in thirty.)

A shot usually spans several of the sampler's batches (four gpu_heavy frames each), so the
open scene of each video is kept between ``process`` calls, and a scene that grows is
described again: the analyzer emits one scene record per call that touched it, and the
summary keeps, for each scene start, the description of the most frames. Memory is bounded:
frames are kept downscaled, and only the ``max_videos`` most recently seen videos.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


def starts_shot(t: float, every_s: float, tolerance_s: float) -> bool:
    """Whether the keyframe at ``t`` is off the sampling grid, i.e. a shot start."""
    offset = t - every_s * int(t // every_s + 1e-9)
    return offset > tolerance_s


def shrink(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """A copy at most ``max_side`` pixels on its longest side (nearest-neighbour striding:
    the processor resizes again anyway; this only bounds what the buffer holds)."""
    step = max(1, -(-max(rgb.shape[:2]) // max_side))
    return np.ascontiguousarray(rgb[::step, ::step])


@dataclass
class Scene:
    times: list[float] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)

    @property
    def start(self) -> float:
        return self.times[0]


class SceneBuffer:
    def __init__(self, every_s: float, tolerance_s: float, max_frames: int,
                 max_side: int = 512, max_videos: int = 8) -> None:
        self.every_s, self.tolerance_s = every_s, tolerance_s
        self.max_frames, self.max_side, self.max_videos = max_frames, max_side, max_videos
        self._open: OrderedDict[str, Scene] = OrderedDict()

    def add(self, video_id: str, frames: Sequence[tuple[float, np.ndarray]]) -> list[Scene]:
        """Adds a video's keyframes (in time order) and returns the scenes they touched, each
        with every frame it holds so far, to be described."""
        touched: list[Scene] = []
        scene = self._open.pop(video_id, None)
        for t, rgb in frames:
            if scene is not None and t <= scene.times[-1]:
                scene = None  # a replayed or out-of-order batch: start afresh, never mix
            if (scene is None or len(scene.times) >= self.max_frames
                    or starts_shot(t, self.every_s, self.tolerance_s)):
                scene = Scene()
            scene.times.append(t)
            scene.images.append(shrink(rgb, self.max_side))
            if not touched or touched[-1] is not scene:
                touched.append(scene)
        if scene is not None:
            self._open[video_id] = scene
            while len(self._open) > self.max_videos:
                self._open.popitem(last=False)
        return touched
