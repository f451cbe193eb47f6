"""Consecutive frames of the sampler's signals, as ``motion`` and ``camera_motion`` read them:
each frame with the one before it, except across a hard cut (the change there is the cut, not
motion), grouped into windows of the video's clock."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from tiktok_analyzer.shared.runtime.analyzers import DecodedSignals

# Frame intervals outside this are timestamps gone wrong, not frame rates.
MIN_DT, MAX_DT = 1 / 240, 1.0


@dataclass(frozen=True)
class Pair:
    index: int  # the later frame
    t: float  # its time (NaN in the lead-in, whose times are not sent)
    dt: float  # seconds since the earlier frame
    before: np.ndarray
    after: np.ndarray
    in_span: bool  # False: a lead-in frame, context only (the previous span reported it)
    cut: bool  # a hard cut starts the later frame: the two are not comparable


def pairs(signals: DecodedSignals, lead_in: bool = False) -> Iterator[Pair]:
    """Every frame of the span with the frame before it, but across hard cuts; with
    ``lead_in``, the lead-in's pairs first and the pairs across cuts too (flagged)."""
    times, thumbs, lead = signals.times, signals.thumbs, signals.lead_in
    # The lead-in frames' times are not sent: the span's usual frame interval stands for them.
    usual = float(np.median(np.diff(times))) if len(times) > 1 else 1 / 30
    for j in range(1, lead + len(times)):
        i = j - lead  # position in the span
        index = signals.start_index + i
        cut = index in signals.cuts
        if (cut or i < 0) and not lead_in:
            continue
        dt = float(times[i] - times[i - 1]) if i > 0 else usual
        yield Pair(index, float(times[i]) if i >= 0 else float("nan"),
                   min(max(dt, MIN_DT), MAX_DT), thumbs[j - 1], thumbs[j], i >= 0, cut)


def window_start(t: float, window_s: float) -> float:
    """The start of the window of the video's clock that holds ``t``."""
    return round(math.floor(t / window_s + 1e-9) * window_s, 6)


def shot_pieces(signals: DecodedSignals, window_s: float) -> list[tuple[float, float]]:
    """The span cut into windows of ``window_s`` on the video's clock, each also cut at hard
    cuts: (start, end) seconds."""
    if not len(signals.times):
        return []
    bounds = {float(signals.times[0]), signals.end_t}
    t = window_start(float(signals.times[0]), window_s) + window_s
    while t < signals.end_t - 1e-9:
        bounds.add(round(t, 6))
        t += window_s
    bounds |= {float(signals.times[i - signals.start_index]) for i in signals.cuts
               if 0 <= i - signals.start_index < len(signals.times)}
    ordered = sorted(bounds)
    return [(a, b) for a, b in itertools.pairwise(ordered) if b - a > 1e-6]
