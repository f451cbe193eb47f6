"""The shot detector, run on every decoded frame: one shot list for the whole system.

Hard cuts are decided a few frames after they happen, so the heavy keyframe of a new shot can
be its first frame. A frame starts a shot when its cut score (``measure.py``) is at least the
threshold and twice the mean score of the two frames on each side, or at least half the
threshold and three times that mean; the neighbours keep fast motion (every frame scores high)
from counting as cuts, the second tier catches cuts between similar-looking scenes. A frame
whose picture comes back within three frames (the frame before it and one of the next three
score under half the threshold) is a flash, not a cut, and so is the frame that ends it; a
cut closer than ``min_len_s`` to the previous shot start is ignored.

Fades and dissolves (``transitions.py``) need up to ``MAX_TRANSITION_S`` of context on both
sides; the tracker runs those rules over a sliding window and settles what lies more than that
behind the newest frame, so a shot is final a few seconds after it ends. What it settles is
exactly what the rules would find over the whole video at once. Memory is bounded by the window.

``starts`` (the manifest's ``shot_starts_s``) and the shots handed to the ``shots`` analyzer
(``take_shots``) are the same list.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np

from tiktok_analyzer.frame_sampler import transitions
from tiktok_analyzer.frame_sampler.measure import score
from tiktok_analyzer.frame_sampler.transitions import (
    LINEAR_HALF_WIDTH,
    MAX_TRANSITION_S,
    Dissolve,
    Fade,
    FrameMeasure,
    Transition,
)
from tiktok_analyzer.shared.contracts.events import DetectedShot, TimeSpan

LOOKAHEAD = 3  # frames after a candidate cut: the flash test and the right-hand neighbours
_SETTLE_EVERY_S = 0.5
_CONTEXT_S = 2 * MAX_TRANSITION_S + 0.5  # kept before the settled horizon


@dataclass(frozen=True)
class Decided:
    """A frame whose shot start is decided; they come out in presentation order."""

    index: int
    t: float
    cut: bool
    """A hard cut starts a shot here."""
    shot_start: bool
    """Worth a shot-start keyframe: the first frame, a hard cut, or the first frame decided
    after a shot change by fade or dissolve was seen whole (frames inside a transition are
    mixes: poor keyframes)."""


@dataclass(frozen=True)
class _Boundary:
    index: int
    t: float
    opening: Literal["start", "cut", "dissolve", "fade"]
    span: TimeSpan


class ShotTracker:
    def __init__(self, threshold: float, min_len_s: float) -> None:
        self.threshold = threshold
        self.min_len_s = min_len_s
        self.frames: deque[FrameMeasure] = deque()
        self._cut_next = 0  # position in ``frames`` of the first frame without a cut decision
        self._linear_next = 0
        self._first_index: int | None = None
        self._last_start_t: float | None = None
        self._settled_to = -1  # every transition anchored at or below this index is known
        self._settled_t = float("-inf")
        self._next_settle_t = float("-inf")
        self._boundaries: list[_Boundary] = []
        self._fades: list[Fade] = []
        self._key_pending = False
        self._keyed: set[int] = set()  # shot changes by fade or dissolve already keyed
        self._done: list[DetectedShot] = []
        self.starts: list[float] = []

    # --- frames in, decisions out ---------------------------------------------------------

    def push(self, index: int, t: float, grid: np.ndarray) -> list[Decided]:
        previous = self.frames[-1].grid if self.frames else None
        self.frames.append(transitions.measure(index, t, grid, previous))
        if self._first_index is None:
            self._first_index = index
        decided = self._decide_cuts(final=False)
        self._decide_linear(final=False)
        self._settle(final=False)
        return decided

    def finish(self, end_t: float) -> list[Decided]:
        decided = self._decide_cuts(final=True)
        self._decide_linear(final=True)
        self._settle(final=True)
        self._close_shots(end_index=self.frames[-1].index + 1 if self.frames else 0,
                          end_t=end_t)
        return decided

    def take_shots(self) -> list[DetectedShot]:
        """Shots whose end is settled since the last call, in order."""
        done, self._done = self._done, []
        return done

    # --- hard cuts --------------------------------------------------------------------------

    def _decide_cuts(self, final: bool) -> list[Decided]:
        out = []
        while self._cut_next < len(self.frames) and (
                final or self._cut_next + LOOKAHEAD < len(self.frames)):
            i = self._cut_next
            frame = self.frames[i]
            first = frame.index == self._first_index
            frame.cut = not first and self._is_cut(i)
            if first or frame.cut:
                self._last_start_t = frame.t
                self._boundaries.append(_Boundary(frame.index, frame.t,
                                                  "start" if first else "cut",
                                                  TimeSpan(t=frame.t, end_t=frame.t)))
            key = first or frame.cut or self._key_pending
            self._key_pending = False
            out.append(Decided(frame.index, frame.t, frame.cut, key))
            self._cut_next += 1
        return out

    def _is_cut(self, i: int) -> bool:
        frames, frame = self.frames, self.frames[i]
        value = frame.score
        if value < self.threshold / 2:
            return False
        near = [frames[j].score for j in (i - 2, i - 1, i + 1, i + 2)
                if 0 <= j < len(frames) and frames[j].index != self._first_index]
        baseline = max(float(np.mean(near)), 1.0) if near else 1.0
        if value < (2.0 if value >= self.threshold else 3.0) * baseline:
            return False
        if i > 0:
            before, now = frames[i - 1].grid, frame.grid
            for j in range(i + 1, min(i + 1 + LOOKAHEAD, len(frames))):
                if score(before, frames[j].grid) < self.threshold / 2:
                    return False  # the picture comes back: this frame starts a flash
            for j in range(max(0, i - 1 - LOOKAHEAD), i - 1):
                if score(frames[j].grid, now) < self.threshold / 2:
                    return False  # the picture is back: this frame ends a flash
        return self._last_start_t is None or frame.t - self._last_start_t >= self.min_len_s

    # --- fades and dissolves ------------------------------------------------------------------

    def _decide_linear(self, final: bool) -> None:
        m = LINEAR_HALF_WIDTH
        # Frame k needs k + m, and the cut decisions up to it.
        while self._linear_next + m < self._cut_next or (
                final and self._linear_next < len(self.frames)):
            k = self._linear_next
            if m <= k and k + m < len(self.frames):
                frames = self.frames
                if not any(frames[j].cut for j in range(k - m + 1, k + m + 1)):
                    frames[k].linear = transitions.is_linear(frames[k - m], frames[k],
                                                             frames[k + m])
            self._linear_next += 1

    def _settle(self, final: bool) -> None:
        if not self._linear_next:
            return
        ready_t = self.frames[self._linear_next - 1].t
        if not final and ready_t < self._next_settle_t:
            return
        self._next_settle_t = ready_t + _SETTLE_EVERY_S
        horizon_t = float("inf") if final else ready_t - MAX_TRANSITION_S - 0.2
        window = list(self.frames)[: self._linear_next]
        video_start = window[0].index == self._first_index
        for found in transitions.find(window, self.threshold, video_start):
            at = self._frame(found.anchor)
            if at is not None and self._settled_to < found.anchor and at.t < horizon_t:
                self._accept(found)
            # The keyframe need not wait for the shot change to settle: once the transition
            # is seen whole, the next decided frame shows the new shot.
            changes = isinstance(found, Dissolve) or found.shot_change
            whole = found.end <= window[-1].index - LINEAR_HALF_WIDTH - 2
            cut_since = self._last_start_t is not None and at is not None and (
                self._last_start_t > at.t)
            if (changes and whole and not cut_since and found.anchor not in self._keyed
                    and self._settled_to < found.anchor):
                self._keyed.add(found.anchor)
                self._key_pending = True
        last = [f for f in window if f.t < horizon_t]
        if last:
            self._settled_to, self._settled_t = last[-1].index, last[-1].t
            self._keyed = {k for k in self._keyed if k > self._settled_to}
        self._close_shots()
        while self.frames and self.frames[0].t < self._settled_t - _CONTEXT_S:
            self.frames.popleft()
            self._cut_next -= 1
            self._linear_next -= 1

    def _frame(self, index: int) -> FrameMeasure | None:
        offset = index - self.frames[0].index
        if 0 <= offset < len(self.frames) and self.frames[offset].index == index:
            return self.frames[offset]
        return next((f for f in self.frames if f.index == index), None)

    def _accept(self, found: Transition) -> None:
        if isinstance(found, Dissolve):
            middle = self._frame(found.middle)
            boundary = _Boundary(found.middle, middle.t if middle else found.t, "dissolve",
                                 TimeSpan(t=found.t, end_t=found.end_t))
        else:
            self._fades.append(found)
            if not found.shot_change:
                return
            # Through black: the transition spans the fade-out that led into it, if any.
            outs = [f for f in self._fades if not f.incoming and f.end <= found.start
                    and f.end_t >= found.t - MAX_TRANSITION_S]
            boundary = _Boundary(found.start, found.t, "fade",
                                 TimeSpan(t=outs[-1].t if outs else found.t, end_t=found.end_t))
        if any(b.index == boundary.index for b in self._boundaries):
            return
        self._boundaries.append(boundary)
        self._boundaries.sort(key=lambda b: b.index)

    # --- shots ------------------------------------------------------------------------------

    def _close_shots(self, end_index: int | None = None, end_t: float | None = None) -> None:
        """Emit every shot whose end is settled (all of them, given the video's end)."""
        bounds = self._boundaries
        while len(bounds) >= 2 and bounds[1].index <= self._settled_to:
            self._emit(bounds[0], bounds[1].index, bounds[1].t)
            bounds.pop(0)
        if end_index is not None and end_t is not None and bounds:
            for a, b in zip(bounds, [*bounds[1:], None], strict=True):
                self._emit(a, b.index if b else end_index, b.t if b else max(end_t, a.t))
            bounds.clear()

    def _emit(self, start: _Boundary, end_index: int, end_t: float) -> None:
        fades = [f for f in self._fades if start.index <= f.anchor < end_index]
        fade_in = next((f for f in fades if f.incoming), None)
        fade_out = next((f for f in reversed(fades) if not f.incoming), None)
        self._done.append(DetectedShot(
            start_index=start.index, end_index=end_index, t=round(start.t, 4),
            end_t=round(end_t, 4), opening=start.opening,
            transition=TimeSpan(t=round(start.span.t, 4), end_t=round(start.span.end_t, 4)),
            fade_in=TimeSpan(t=round(fade_in.t, 4), end_t=round(fade_in.end_t, 4))
            if fade_in else None,
            fade_out=TimeSpan(t=round(fade_out.t, 4), end_t=round(fade_out.end_t, 4))
            if fade_out else None))
        self.starts.append(round(start.t, 4))
        self._fades = [f for f in self._fades if f.anchor >= end_index]
