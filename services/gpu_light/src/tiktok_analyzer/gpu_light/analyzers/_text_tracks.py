"""Text lines of successive sampled frames linked into text tracks.

Run in ``summarize`` over every frame of the video (sorted by time), so the tracks do not
depend on how the frames were batched or replayed. A line continues a track when the track
was seen at most ``max_gap_s`` before, the boxes overlap (IoU) or the centres are close for
the text's height, and the texts agree: a difflib ratio of the normalised texts of at least
``similarity`` (OCR misreads a letter or two) *and* the same digits, since a counter, a price or
a date that changes is a new text, not a misreading. Pairs are taken best first (ties by
track and line order), so the result is deterministic.
"""

from __future__ import annotations

import difflib
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from tiktok_analyzer.shared.contracts.results import Detection

Box = tuple[float, float, float, float]


def normalise(text: str) -> str:
    """Lower case, punctuation dropped, spaces collapsed: what two readings are compared on."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def similar(a: str, b: str, threshold: float) -> bool:
    na, nb = normalise(a), normalise(b)
    if _digits(na) != _digits(nb):
        return False
    return na == nb or difflib.SequenceMatcher(None, na, nb).ratio() >= threshold


def box_iou(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area if area > 0 else 0.0


def near(a: Box, b: Box, min_iou: float) -> bool:
    """Overlapping boxes, or centres within one text height (a line re-detected with a word
    more or less moves its box's edges, not its centre line)."""
    if box_iou(a, b) >= min_iou:
        return True
    height = max(a[3] - a[1], b[3] - b[1])
    dx = (a[0] + a[2] - b[0] - b[2]) / 2
    dy = (a[1] + a[3] - b[1] - b[3]) / 2
    return abs(dy) <= 0.5 * height and abs(dx) <= 2 * height


@dataclass
class LinkedTrack:
    times: list[float] = field(default_factory=list)
    lines: list[Detection] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The most frequent reading (by normalised text), spelled as its most confident
        reading."""
        counts = Counter(normalise(d.label) for d in self.lines)
        best = max(counts.items(), key=lambda kv: (kv[1], -min(
            i for i, d in enumerate(self.lines) if normalise(d.label) == kv[0])))[0]
        return max((d for d in self.lines if normalise(d.label) == best),
                   key=lambda d: d.confidence).label

    @property
    def box(self) -> Box:
        b = [statistics.median(d.box[i] for d in self.lines) for i in range(4)]
        return b[0], b[1], b[2], b[3]


def link_text(frames: Sequence[tuple[float, Sequence[Detection]]], similarity: float,
              min_iou: float, max_gap_s: float) -> list[LinkedTrack]:
    """Tracks by first appearance (then by position on that frame)."""
    tracks: list[LinkedTrack] = []
    for t, lines in sorted(frames, key=lambda f: f[0]):
        live = [i for i, tr in enumerate(tracks) if t - tr.times[-1] <= max_gap_s + 1e-6]
        pairs = []
        for i in live:
            last = tracks[i].lines[-1]
            for j, line in enumerate(lines):
                if near(last.box, line.box, min_iou) and similar(last.label, line.label,
                                                                 similarity):
                    score = difflib.SequenceMatcher(
                        None, normalise(last.label), normalise(line.label)).ratio()
                    pairs.append((-(score + box_iou(last.box, line.box)), i, j))
        taken_tracks: set[int] = set()
        taken_lines: set[int] = set()
        for _, i, j in sorted(pairs):
            if i in taken_tracks or j in taken_lines:
                continue
            taken_tracks.add(i)
            taken_lines.add(j)
            tracks[i].times.append(t)
            tracks[i].lines.append(lines[j])
        for j, line in sorted(enumerate(lines), key=lambda jl: (jl[1].box[1], jl[1].box[0])):
            if j not in taken_lines:
                tracks.append(LinkedTrack([t], [line]))
    return tracks
