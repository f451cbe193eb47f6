"""The signals of every decoded frame, cut into spans that ride on gpu_light's batches.

A span holds each frame's time, whether a hard cut starts it, and its luma thumbnail
(``measure.LumaThumbnailer``), plus the shots settled since the previous span. Thumbnails are
packed into one payload per span (inline when small, else by reference, as frames are). A
span but the video's last ends on a whole second, so a per-second measure never straddles
two batches, and it starts with the thumbnails of the ``LEAD_IN`` frames before it, so motion
is measured across its start with some history (the camera-motion tracker's test for a still
background looks a few frames back).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tiktok_analyzer.frame_sampler.measure import cut_grid_rgb, luma_thumbnail_rgb
from tiktok_analyzer.frame_sampler.shots import ShotTracker
from tiktok_analyzer.shared.contracts.events import DetectedShot, FrameSignals
from tiktok_analyzer.shared.infra.blobs import PayloadPacker
from tiktok_analyzer.shared.runtime.analyzers import DecodedSignals

LEAD_IN = 6


class SignalSpans:
    def __init__(self, packer: PayloadPacker) -> None:
        self.packer = packer
        self.start_index: int | None = None
        self.times: list[float] = []
        self.thumbs: list[np.ndarray] = []
        self.cuts: list[int] = []
        self.shots: list[DetectedShot] = []
        # The last frames of the previous span: (index, thumbnail, cut).
        self.lead: list[tuple[int, np.ndarray, bool]] = []

    @property
    def pending(self) -> bool:
        return bool(self.times or self.shots)

    def add(self, index: int, t: float, thumb: np.ndarray, cut: bool) -> None:
        if self.start_index is None:
            self.start_index = index
        if self.thumbs and thumb.shape != self.thumbs[0].shape:
            thumb = _resized(thumb, self.thumbs[0].shape)  # the size changed mid-stream
        self.times.append(round(t, 4))
        self.thumbs.append(thumb)
        if cut:
            self.cuts.append(index)

    def add_shots(self, shots: Sequence[DetectedShot]) -> None:
        self.shots += shots

    def take(self, payload_key: str, until_s: float | None, end_t: float | None = None
             ) -> FrameSignals | None:
        """The span of the frames before the last whole second up to ``until_s`` (all of them
        when None, ending at ``end_t``); None when there is nothing to send."""
        count = len(self.times)
        if until_s is not None:
            whole = math.floor(until_s + 1e-6)
            count = next((i for i, t in enumerate(self.times) if t >= whole - 1e-6), count)
            end_t = float(whole)
        if not count and not self.shots:
            return None
        start_index = self.start_index if self.start_index is not None else 0
        thumbs = self.thumbs[:count]
        lead = self.lead if count else []
        shape = (thumbs or [np.zeros((0, 0), np.uint8)])[0].shape
        packed = (np.stack([*(_resized(t, shape) for _, t, _ in lead), *thumbs]) if thumbs
                  else np.zeros((0, *shape), np.uint8))
        times = self.times[:count]
        cuts = [i for i, _, cut in lead if cut] + [c for c in self.cuts
                                                    if c < start_index + count]
        span = FrameSignals(
            start_index=start_index, times=times,
            end_t=round(end_t if end_t is not None else (times[-1] if times else 0.0), 4),
            cuts=cuts, thumb_width=int(shape[1]), thumb_height=int(shape[0]),
            lead_in=len(lead), shots=self.shots,
            thumbs=self.packer.pack(packed.tobytes(), payload_key, "application/octet-stream"))
        if count:
            sent = [(start_index + i, thumbs[i], start_index + i in self.cuts)
                    for i in range(count)]
            self.lead = [*self.lead, *sent][-LEAD_IN:]
        self.times, self.thumbs = self.times[count:], self.thumbs[count:]
        self.cuts = [c for c in self.cuts if c >= start_index + count]
        self.start_index = start_index + count
        self.shots = []
        return span


def _resized(thumb: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if thumb.shape == shape:
        return thumb
    rows = (np.arange(shape[0]) * thumb.shape[0]) // shape[0]
    cols = (np.arange(shape[1]) * thumb.shape[1]) // shape[1]
    return np.ascontiguousarray(thumb[np.ix_(rows, cols)])


def signals_of_pictures(indices: Sequence[int], times: Sequence[float],
                        pictures: Sequence[np.ndarray], end_t: float,
                        threshold: float = 30.0, min_len_s: float = 0.2) -> DecodedSignals:
    """What the sampler would send for these upright RGB pictures, were they every frame of
    a video: for tools and tests that have pictures rather than a file."""
    tracker = ShotTracker(threshold, min_len_s)
    decided = [d for index, t, picture in zip(indices, times, pictures, strict=True)
               for d in tracker.push(index, t, cut_grid_rgb(picture))]
    decided += tracker.finish(end_t)
    thumbs = np.stack([luma_thumbnail_rgb(p) for p in pictures]) if pictures else np.zeros(
        (0, 0, 0), np.uint8)
    return DecodedSignals(start_index=indices[0] if indices else 0,
                          times=np.asarray(times, dtype=np.float64), end_t=end_t,
                          cuts=frozenset(d.index for d in decided if d.cut), thumbs=thumbs,
                          lead_in=0, shots=tracker.take_shots())

