"""Tolerant readers of report sections as JSON: the page is built from the report alone, for
analyzers that exist today and for those that land later, so nothing here assumes more of a
record than ``t`` (and ``end_t`` for spans). Field names the analyzers use for a label, a
box or a score are tried in turn; a record without them is still shown, only plainer."""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]

LABEL_FIELDS = ("label", "kind", "text", "caption", "emotion", "motion", "movement", "type",
                "category", "class", "name")
"""Fields that name what a record or an item is, most specific first."""


@dataclass(frozen=True)
class Box:
    """A box in normalised frame coordinates (x1, y1, x2, y2 in 0..1), as every analyzer of
    the project reports them (``results.Detection``)."""

    x1: float
    y1: float
    x2: float
    y2: float
    label: str
    score: float | None


def number(value: Any) -> float | None:
    """``value`` as a finite float, or None (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def label_of(item: Mapping[str, Any], default: str = "") -> str:
    for name in LABEL_FIELDS:
        value = item.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return default


def scalars(item: Mapping[str, Any], limit: int = 10) -> list[tuple[str, str]]:
    """The record's plain fields, formatted for a tooltip or a table (nested ones left out)."""
    out = []
    for name, value in item.items():
        if name in ("t", "end_t") or isinstance(value, dict | list):
            continue
        out.append((name, fmt(value)))
        if len(out) == limit:
            break
    return out


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:.0f}"
    text = str(value)
    return text if len(text) <= 120 else text[:117] + "…"


PULL = re.compile(r"tiktok-analyzer models pull [\w.-]+")
"""The command a skip reason names to fetch missing weights."""


def brief(reason: str, limit: int = 90) -> str:
    """A skip or failure reason short enough for a small space: the pull command when it
    names one (the rest is the path of the model store), else its start."""
    pull = PULL.search(reason)
    if pull:
        return f"no weights: {pull.group(0)}"
    return reason if len(reason) <= limit else reason[: limit - 1] + "…"


def timed(items: Iterable[Any]) -> list[Json]:
    """The items that are objects with a numeric ``t``, sorted by it."""
    found = [i for i in items if isinstance(i, dict) and number(i.get("t")) is not None]
    return sorted(found, key=lambda i: float(i["t"]))


def typical_gap(times: Sequence[float]) -> float | None:
    """The median gap between successive times: how long a frame-sampled record stands for."""
    gaps = [b - a for a, b in itertools.pairwise(times) if b > a]
    return statistics.median(gaps) if gaps else None


def spans(records: Sequence[Json], duration: float | None) -> Iterator[tuple[Json, float, float]]:
    """Each record with the time it covers: its own ``end_t``, else until the next record
    (at most the typical gap, so a lone frame does not stretch over a pause)."""
    times = [float(r["t"]) for r in records]
    gap = typical_gap(times) or 0.5
    for i, record in enumerate(records):
        t = times[i]
        end = number(record.get("end_t"))
        if end is None:
            following = times[i + 1] if i + 1 < len(times) else t + gap
            end = min(following, t + gap)
            if duration is not None:
                end = min(end, max(duration, t))
        yield record, t, max(end, t)


def boxes_in(value: Any, depth: int = 0) -> list[Box]:
    """Every normalised box anywhere in ``value`` (a dict with ``box`` or ``bbox`` of four
    numbers in 0..1). Boxes in pixels are skipped: the page has no frame size to scale them."""
    if depth > 4:
        return []
    found: list[Box] = []
    if isinstance(value, dict):
        raw = value.get("box", value.get("bbox"))
        corners = [number(v) for v in raw] if isinstance(raw, list | tuple) else []
        if len(corners) == 4 and all(c is not None and -0.01 <= c <= 1.01 for c in corners):
            x1, y1, x2, y2 = (min(max(c or 0.0, 0.0), 1.0) for c in corners)
            score = next((s for k in ("confidence", "score", "probability")
                          if (s := number(value.get(k))) is not None), None)
            found.append(Box(x1, y1, x2, y2, label_of(value), score))
        for name, child in value.items():
            if name not in ("box", "bbox"):
                found += boxes_in(child, depth + 1)
    elif isinstance(value, list):
        for child in value:
            found += boxes_in(child, depth + 1)
    return found


def texts_in(value: Any, depth: int = 0) -> list[str]:
    """Every ``text`` string in ``value``'s nested items (on-screen text lines of a frame)."""
    if depth > 4:
        return []
    if isinstance(value, dict):
        own = value.get("text")
        found = [own.strip()] if isinstance(own, str) and own.strip() else []
        for child in value.values():
            if isinstance(child, dict | list):
                found += texts_in(child, depth + 1)
        return found
    if isinstance(value, list):
        return [text for child in value for text in texts_in(child, depth + 1)]
    return []


def numeric_fields(records: Sequence[Json]) -> list[str]:
    """Top-level numeric fields present in most records, in first-seen order (series to chart)."""
    counts: dict[str, int] = {}
    for record in records:
        for name, value in record.items():
            if name not in ("t", "end_t") and number(value) is not None:
                counts[name] = counts.get(name, 0) + 1
    return [name for name, n in counts.items() if n * 2 >= len(records)]


def pairs(value: Any) -> list[tuple[float, float | None]]:
    """A curve stored as ``[[t, v], ...]`` (``v`` may be null: a gap)."""
    out = []
    if isinstance(value, list):
        for item in value:
            if isinstance(item, list | tuple) and len(item) == 2:
                t = number(item[0])
                if t is not None:
                    out.append((t, number(item[1])))
    return out


@dataclass(frozen=True)
class Media:
    """The few facts of the report's ``media`` block the page lays out by."""

    width: int | None
    height: int | None
    duration_s: float | None
    rotation_deg: int
    pixel_aspect: float

    @property
    def has_video(self) -> bool:
        return bool(self.width and self.height)

    @property
    def upright_aspect(self) -> tuple[float, float]:
        """Display width and height (square pixels, turned upright), for the keyframe boxes."""
        width = float(self.width or 9) * self.pixel_aspect
        height = float(self.height or 16)
        return (height, width) if self.rotation_deg % 180 == 90 else (width, height)


def media_of(doc: Mapping[str, Any]) -> Media | None:
    media = doc.get("media")
    if not isinstance(media, dict):
        return None
    width, height = number(media.get("width")), number(media.get("height"))
    aspect = number(media.get("pixel_aspect"))
    return Media(int(width) if width else None, int(height) if height else None,
                 number(media.get("duration_s")), int(number(media.get("rotation_deg")) or 0),
                 aspect if aspect and aspect > 0 else 1.0)


def as_document(report: Any) -> Json:
    """The report as JSON data: a ``FinalReport`` (or any pydantic model) is dumped; a mapping
    read from a stored file is taken as it is, so a report written under an older or newer
    contract still renders."""
    dump = getattr(report, "model_dump", None)
    if callable(dump):
        return dict(dump(mode="json"))
    if isinstance(report, Mapping):
        return dict(report)
    raise TypeError(f"not a report: {type(report).__name__}")
