"""Fades and dissolves, found in a window of per-frame measurements (``measure.py``).

The rules, each looking at most ``MAX_TRANSITION_S`` around the frame it decides on, so that
the shot tracker can run them over a sliding window and get what a run over the whole video
would give:

* **black**: a frame whose mean luma is at most 26 (on 0-255; PySceneDetect's fade threshold
  of 12 in RGB) and whose luma cells are nearly uniform.
* **fade-out**: the mean luma falls steadily (never rising by more than noise) for at least 3
  frames and 10 levels into a black frame that is no hard cut; it ends on the first frame at
  the black floor.
* **fade-in**: the mirror image; it starts on the last frame at the black floor. It starts a
  new shot unless the black before it reaches back to the video's first frame, or began with
  a hard cut (a cut to black, then a fade-in: the cut is the shot change). So a fade-out and a
  fade-in through black are one shot change, at the fade-in's first frame, as PySceneDetect's
  fade detector places it.
* **dissolve**: frames that are linear mixes of the frames before and after them: for frame
  ``k``, ``g(k)`` is close to the mean of ``g(k - 4)`` and ``g(k + 4)`` while those differ
  (``g``: the cut grid). A run of such frames is a dissolve when its first and last frames
  differ like a cut (score at least the cut threshold), every frame in between is a mix of
  those two (residual at most a quarter of their difference), and the change is more than a
  global brightness shift (auto-exposure, a light switched on). The shot changes where the
  mix passes one half. Pans and zooms fail the mixing test: a frame half-way through a pan is
  not the average of its ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tiktok_analyzer.frame_sampler.measure import WEIGHTS, luma_of, score

MAX_TRANSITION_S = 2.5
BLACK_LUMA, BLACK_SPREAD, FLOOR_MAX = 26.0, 10.0, 22.0
FLOOR_TOLERANCE = 0.5  # luma levels: frames this close to the darkest are "at the floor"
STEP_NOISE = 0.3  # luma levels a fade may move against its direction from frame to frame
STEP_MIN = 0.5  # a fade's first and last steps change luma by at least this much
FADE_MIN_FRAMES, FADE_MIN_LEVELS = 3, 10.0
LINEAR_HALF_WIDTH = 4  # frames on each side of the mixing test
LINEAR_MIN_CHANGE, LINEAR_MAX_RESIDUAL = 3.0, 0.3
MIX_MAX_RESIDUAL, MIX_MIN_STRUCTURE = 0.25, 0.35


@dataclass
class FrameMeasure:
    """What the rules read of one frame. ``cut`` and ``linear`` are decided by the tracker,
    ``cut`` with a few frames of look-ahead, ``linear`` with ``LINEAR_HALF_WIDTH`` more."""

    index: int
    t: float
    grid: np.ndarray
    score: float  # against the previous frame
    luma: float
    spread: float
    cut: bool = False
    linear: bool = False

    @property
    def black(self) -> bool:
        return self.luma <= BLACK_LUMA and self.spread <= BLACK_SPREAD


def measure(index: int, t: float, grid: np.ndarray, previous: np.ndarray | None
            ) -> FrameMeasure:
    cells = luma_of(grid)
    return FrameMeasure(index, t, grid, score(previous, grid) if previous is not None else 0.0,
                        float(cells.mean()), float(cells.std()))


def is_linear(before: FrameMeasure, frame: FrameMeasure, after: FrameMeasure) -> bool:
    """Whether ``frame`` is the mean of ``before`` and ``after`` while they differ: a frame in
    the middle of a mix (or of a fade)."""
    change = score(before.grid, after.grid)
    if change < LINEAR_MIN_CHANGE:
        return False
    return score(frame.grid, (before.grid + after.grid) / 2) <= LINEAR_MAX_RESIDUAL * change


@dataclass(frozen=True)
class Fade:
    start: int  # frame indices, inclusive
    end: int
    t: float
    end_t: float
    incoming: bool  # a fade-in (else a fade-out)
    shot_change: bool  # a fade-in that starts a shot (at ``start``)

    @property
    def anchor(self) -> int:
        """The frame that places it in a shot: its first (a fade-out's last frame may be the
        first of the next shot when the fade-in starts on the same black frame)."""
        return self.start


@dataclass(frozen=True)
class Dissolve:
    start: int
    end: int
    t: float
    end_t: float
    middle: int  # the first frame that is more new shot than old: where the shot changes

    @property
    def anchor(self) -> int:
        return self.middle


Transition = Fade | Dissolve


def find(frames: Sequence[FrameMeasure], threshold: float, video_start: bool
         ) -> list[Transition]:
    """Every fade and dissolve the rules find in ``frames`` (consecutive frames of one video;
    ``video_start``: the first of them is the video's first frame)."""
    found: list[Transition] = []
    for i in range(1, len(frames)):
        if frames[i - 1].black and not frames[i].black:
            fade_in = _fade_in(frames, i - 1, video_start)
            if fade_in is not None:
                found.append(fade_in)
        if frames[i].black and not frames[i - 1].black and not frames[i].cut:
            fade_out = _fade_out(frames, i)
            if fade_out is not None:
                found.append(fade_out)
    found += _dissolves(frames, threshold)
    return found


def _within(frames: Sequence[FrameMeasure], a: int, b: int) -> bool:
    return abs(frames[b].t - frames[a].t) <= MAX_TRANSITION_S


def _fade_in(frames: Sequence[FrameMeasure], last_black: int, video_start: bool
             ) -> Fade | None:
    first_black = last_black
    while (first_black > 0 and frames[first_black - 1].black
           and _within(frames, first_black - 1, last_black)):
        first_black -= 1
    floor = min(f.luma for f in frames[first_black:last_black + 1])
    if floor > FLOOR_MAX:
        return None
    start = max(i for i in range(first_black, last_black + 1)
                if frames[i].luma <= floor + FLOOR_TOLERANCE)
    end = start
    while (end + 1 < len(frames) and not frames[end + 1].cut and _within(frames, start, end + 1)
           and frames[end + 1].luma >= frames[end].luma - STEP_NOISE):
        end += 1
    while end > start + 1 and frames[end].luma - frames[end - 1].luma < STEP_MIN:
        end -= 1  # the flat top is the new shot, not its fade
    if (end - start < FADE_MIN_FRAMES or frames[end].black
            or frames[end].luma - floor < FADE_MIN_LEVELS):
        return None
    reaches_start = video_start and first_black == 0 and all(
        f.black for f in frames[:last_black + 1])
    cut_to_black = any(f.cut for f in frames[first_black:start + 1])
    return Fade(frames[start].index, frames[end].index, frames[start].t, frames[end].t,
                incoming=True, shot_change=not (reaches_start or cut_to_black))


def _fade_out(frames: Sequence[FrameMeasure], first_black: int) -> Fade | None:
    last_black = first_black
    while (last_black + 1 < len(frames) and frames[last_black + 1].black
           and _within(frames, first_black, last_black + 1)):
        last_black += 1
    floor = min(f.luma for f in frames[first_black:last_black + 1])
    if floor > FLOOR_MAX:
        return None
    end = min(i for i in range(first_black, last_black + 1)
              if frames[i].luma <= floor + FLOOR_TOLERANCE)
    start = first_black
    while (start > 0 and not frames[start].cut and _within(frames, start - 1, end)
           and frames[start - 1].luma >= frames[start].luma - STEP_NOISE):
        start -= 1
    while start < end - 1 and frames[start].luma - frames[start + 1].luma < STEP_MIN:
        start += 1  # the flat stretch before is the old shot, not its fade
    if (end - start < FADE_MIN_FRAMES or frames[start].black
            or frames[start].luma - floor < FADE_MIN_LEVELS):
        return None
    return Fade(frames[start].index, frames[end].index, frames[start].t, frames[end].t,
                incoming=False, shot_change=False)


def _runs(flags: Sequence[bool]) -> list[tuple[int, int]]:
    runs, start = [], None
    for i, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            runs.append((start, i - 1))
            start = None
    return runs


def _dissolves(frames: Sequence[FrameMeasure], threshold: float) -> list[Dissolve]:
    found = []
    m = LINEAR_HALF_WIDTH
    for a, b in _runs([f.linear for f in frames]):
        start, end = max(0, a - m), min(len(frames) - 1, b + m)
        if (frames[start].black or frames[end].black or not _within(frames, start, end)
                or any(f.cut for f in frames[start + 1:end + 1])):
            continue
        dissolve = _mix(frames, start, end, threshold)
        if dissolve is not None:
            found.append(dissolve)
    return found


def _mix(frames: Sequence[FrameMeasure], start: int, end: int, threshold: float
         ) -> Dissolve | None:
    """A dissolve from ``frames[start]`` to ``frames[end]``, if every frame between is a mix
    of those two and the change is more than a brightness shift."""
    first, last = frames[start].grid, frames[end].grid
    delta = last - first
    total = float(np.abs(delta) @ WEIGHTS)
    if total < threshold:
        return None
    grids = np.stack([f.grid for f in frames[start:end + 1]])
    alpha = (grids - first) @ delta / float(delta @ delta)
    residual = np.abs(grids - first - alpha[:, None] * delta) @ WEIGHTS
    if residual.max() > MIX_MAX_RESIDUAL * total or _structure(first, last) < MIX_MIN_STRUCTURE:
        return None
    lo = start + int(np.flatnonzero(alpha <= 0.02).max(initial=0))
    hi = start + int(np.flatnonzero(alpha >= 0.98).min(initial=end - start))
    middle = start + int(np.flatnonzero(alpha >= 0.5).min(initial=end - start))
    return Dissolve(frames[lo].index, frames[hi].index, frames[lo].t, frames[hi].t,
                    frames[middle].index)


def _structure(first: np.ndarray, last: np.ndarray) -> float:
    """Share of the luma change that a gain and offset over the whole picture cannot
    explain: near 0 for exposure changes, large when the picture itself changed."""
    a, b = luma_of(first).astype(np.float64), luma_of(last).astype(np.float64)
    design = np.stack([a, np.ones_like(a)], axis=1)
    coefficients, *_ = np.linalg.lstsq(design, b, rcond=None)
    explained = float(np.abs(b - design @ coefficients).mean())
    return explained / max(float(np.abs(b - a).mean()), 1e-6)
