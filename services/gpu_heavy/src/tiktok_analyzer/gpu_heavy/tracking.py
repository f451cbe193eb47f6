"""Linking per-frame detections into object tracks, over a whole video at once.

Why not ultralytics' own trackers (ByteTrack, BoT-SORT through ``model.track``): they keep
their state in the process, frame after frame. The service analyzes a video's batches as they
arrive, possibly on several replicas, and a replica killed mid-video replays its batches on
restart; a tracker's state would be lost or fed twice and the ids would change. Here the
analyzer only detects (stateless, per frame) and the aggregator links the detections once the
whole video is known (``ObjectsAnalyzer.summarize_with``). The result depends only on the set
of records, not on their order or on repeats, so a replay gives the same track ids.

The linking is IoU-based with a constant-velocity prediction (each track's box moved on by its
last observed velocity), one class per track, greedy assignment by descending IoU, a maximum
gap, and no link across a shot cut. Greedy is written out here rather than taking
``scipy.optimize.linear_sum_assignment``: the aggregator, which runs this, does not depend on
scipy, and with the handful of boxes per frame a short video has, greedy by IoU (as the IOU
tracker of Bochinski et al. does) differs from an optimal assignment only on near ties.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

from tiktok_analyzer.shared.contracts.results import Detection, FrameDetections

Box = tuple[float, float, float, float]
_EPS = 1e-6


def iou(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Track:
    id: int
    label: str
    times: list[float] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)

    def add(self, t: float, detection: Detection) -> None:
        self.times.append(t)
        self.boxes.append(detection.box)
        self.confidences.append(detection.confidence)

    def predict(self, t: float) -> Box:
        """The box at ``t`` if the track keeps its last velocity."""
        last = self.boxes[-1]
        if len(self.boxes) < 2:
            return last
        dt = self.times[-1] - self.times[-2]
        ahead = (t - self.times[-1]) / dt if dt > 0 else 0.0
        prev = self.boxes[-2]
        moved = [v + (v - p) * ahead for v, p in zip(last, prev, strict=True)]
        return (moved[0], moved[1], moved[2], moved[3])


def canonical_frames(records: Sequence[FrameDetections]) -> list[FrameDetections]:
    """One record per frame time, in time order, each frame's detections in a fixed order: a
    replayed batch's repeats and any arrival order give the same input to the linking."""
    by_t: dict[float, FrameDetections] = {}
    for record in records:
        ordered = record.model_copy(update={"detections": sorted(
            record.detections, key=lambda d: (d.label, d.box, -d.confidence))})
        kept = by_t.get(record.t)
        # Two different records for one frame time cannot come from one deterministic model,
        # but if they do, keep the same one whatever the order.
        if kept is None or ordered.model_dump_json() < kept.model_dump_json():
            by_t[record.t] = ordered
    return [by_t[t] for t in sorted(by_t)]


def link_tracks(records: Sequence[FrameDetections], *, min_iou: float, max_gap_s: float,
                cuts_s: Sequence[float] = ()) -> list[Track]:
    """Every track of the video, numbered from 1 in order of first appearance."""
    cuts = sorted(cuts_s)
    tracks: list[Track] = []
    open_tracks: list[Track] = []
    for record in canonical_frames(records):
        t = record.t
        # A track stays open through a gap of at most max_gap_s and never across a cut.
        open_tracks = [
            tr for tr in open_tracks
            if t - tr.times[-1] <= max_gap_s + _EPS
            and bisect.bisect_right(cuts, t) == bisect.bisect_right(cuts, tr.times[-1])]
        pairs = []
        for ti, track in enumerate(open_tracks):
            predicted = track.predict(t)
            for di, det in enumerate(record.detections):
                if det.label == track.label:
                    overlap = iou(predicted, det.box)
                    if overlap >= min_iou:
                        pairs.append((-overlap, track.id, di, ti))
        pairs.sort()
        taken_tracks: set[int] = set()
        taken_dets: set[int] = set()
        for _, _, di, ti in pairs:
            if ti in taken_tracks or di in taken_dets:
                continue
            taken_tracks.add(ti)
            taken_dets.add(di)
            open_tracks[ti].add(t, record.detections[di])
        for di, det in enumerate(record.detections):
            if di not in taken_dets:
                track = Track(id=len(tracks) + 1, label=det.label)
                track.add(t, det)
                tracks.append(track)
                open_tracks.append(track)
    return tracks
