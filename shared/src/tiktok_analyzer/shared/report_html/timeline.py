"""The timeline: one row per kind of thing that happens over time.

The kinds the issue names have rows of their own, built from whichever analyzer provides them
(several are being added: their rows appear as soon as their sections do). Every other
section with time-stamped records gets a generic row, one item per record, so nothing in the
report is left off the timeline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tiktok_analyzer.shared.report_html.records import (
    Json,
    boxes_in,
    brief,
    fmt,
    label_of,
    number,
    scalars,
    spans,
    texts_in,
    timed,
    typical_gap,
)


@dataclass
class Item:
    t: float
    end_t: float
    label: str
    tip: str
    """What hovering shows: the item's values, one per line."""
    lane: int = 0
    """Overlapping items of a row (two objects at once) are stacked in lanes."""


@dataclass
class Row:
    kind: str
    title: str
    source: str
    """The analyzer (or the sampler) the row comes from."""
    items: list[Item] = field(default_factory=list)
    note: str | None = None
    """Why the row is empty (the analyzer was skipped or failed), when it is."""
    lanes: int = 1


MAX_LANES = 6


def stack(row: Row) -> Row:
    """Give each item the first lane where it overlaps nothing (the last lane takes the rest)."""
    ends: list[float] = []
    for item in sorted(row.items, key=lambda i: (i.t, i.end_t)):
        lane = next((n for n, end in enumerate(ends) if item.t >= end - 1e-9), None)
        if lane is None:
            if len(ends) < MAX_LANES:
                ends.append(item.end_t)
            lane = len(ends) - 1
        ends[lane] = max(ends[lane], item.end_t)
        item.lane = lane
    row.lanes = max(1, len(ends))
    return row


def _tip(head: str, t: float, end_t: float | None, record: Json | None = None) -> str:
    when = f"{t:.2f} s" if end_t is None or end_t <= t else f"{t:.2f}-{end_t:.2f} s"
    lines = [f"{head} · {when}" if head else when]
    if record is not None:
        lines += [f"{name}: {value}" for name, value in scalars(record, limit=8)]
    return "\n".join(lines)


def _records(sections: dict[str, Json], key: str) -> list[Json]:
    section = sections.get(key)
    return timed(section.get("records", [])) if section else []


def _summary(sections: dict[str, Json], key: str) -> Json:
    section = sections.get(key) or {}
    summary = section.get("summary")
    return summary if isinstance(summary, dict) else {}


def _merge(points: Sequence[tuple[float, float, str]], gap_s: float) -> list[tuple[float, float]]:
    """Join the spans of one label whose gap is at most ``gap_s`` into tracks."""
    tracks: list[tuple[float, float]] = []
    for t, end, _ in sorted(points):
        if tracks and t - tracks[-1][1] <= gap_s:
            tracks[-1] = (tracks[-1][0], max(tracks[-1][1], end))
        else:
            tracks.append((t, end))
    return tracks


def _tracks_by_label(records: Sequence[Json], duration: float | None,
                     labels_of: Callable[[Json], list[str]], what: str) -> list[Item]:
    """Per label, the time ranges where it was seen on successive sampled frames."""
    gap = (typical_gap([float(r["t"]) for r in records]) or 0.5) * 0.6
    seen: dict[str, list[tuple[float, float, str]]] = {}
    for record, t, end in spans(records, duration):
        for label in set(labels_of(record)):
            seen.setdefault(label, []).append((t, end, label))
    items = []
    for label, points in seen.items():
        for t, end in _merge(points, gap):
            items.append(Item(t, end, label, _tip(f"{what} “{label}”", t, end)))
    return sorted(items, key=lambda i: (i.t, i.label))


def shots_row(starts: Sequence[float], duration: float | None) -> Row:
    row = Row("shots", "Shots", "sampler")
    end_of_video = duration if duration is not None else (starts[-1] + 1 if starts else 0)
    for i, t in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else max(end_of_video, t)
        row.items.append(Item(t, end, f"shot {i + 1}",
                              _tip(f"shot {i + 1}", t, end) + f"\nlength: {end - t:.2f} s"))
    return row


def text_row(sections: dict[str, Json], duration: float | None) -> Row:
    row = Row("text", "On-screen text", "ocr")
    tracks = _summary(sections, "ocr").get("tracks")
    if isinstance(tracks, list) and timed(tracks):
        for track in timed(tracks):
            t = float(track["t"])
            end = number(track.get("end_t")) or t
            text = label_of(track, "text")
            row.items.append(Item(t, end, text, _tip(f"“{text}”", t, end, track)))
        return row
    records = _records(sections, "ocr")
    if records and all(number(r.get("end_t")) is not None for r in records):
        for record, t, end in spans(records, duration):
            text = label_of(record, "text")
            row.items.append(Item(t, end, text, _tip(f"“{text}”", t, end, record)))
        return row
    row.items = _tracks_by_label(records, duration, texts_in, "text")
    return row


def faces_row(sections: dict[str, Json], duration: float | None) -> Row:
    row = Row("faces", "Faces", "faces")
    def count(record: Json) -> int:
        explicit = number(record.get("count", record.get("face_count")))
        return int(explicit) if explicit is not None else len(boxes_in(record))

    records = _records(sections, "faces")
    seen = [(t, end, str(count(r))) for r, t, end in spans(records, duration) if count(r) > 0]
    gap = (typical_gap([float(r["t"]) for r in records]) or 0.5) * 0.6
    for t, end in _merge(seen, gap):
        most = max((int(c) for s, e, c in seen if t <= s < end + 1e-9), default=0)
        row.items.append(Item(t, end, f"{most} face{'s' if most != 1 else ''}",
                              _tip("faces", t, end) + f"\nmost at once: {most}"))
    return row


def objects_row(sections: dict[str, Json], duration: float | None) -> Row:
    row = Row("objects", "Object tracks", "objects")
    records = _records(sections, "objects")

    def labels(record: Json) -> list[str]:
        out = []
        for detection in record.get("detections") or []:
            if isinstance(detection, dict):
                label = label_of(detection, "object")
                track = detection.get("track_id")
                out.append(f"{label} #{track}" if track is not None else label)
        return out

    row.items = _tracks_by_label(records, duration, labels, "object")
    return row


def speech_row(sections: dict[str, Json], duration: float | None) -> Row:
    """Transcript segments where the transcript ran, else the voice activity of speech_rate."""
    records = _records(sections, "transcript")
    if records:
        row = Row("speech", "Speech segments", "transcript")
        for record, t, end in spans(records, duration):
            text = str(record.get("text") or "").strip()
            row.items.append(Item(t, end, text or "speech", _tip("speech", t, end)
                                  + (f"\n“{fmt(text)}”" if text else "")))
        return row
    row = Row("speech", "Speech segments", "speech_rate")
    for record in _records(sections, "speech_rate"):
        for span in timed(record.get("voice_activity") or []):
            t = float(span["t"])
            end = number(span.get("end_t")) or t
            row.items.append(Item(t, end, "voice", _tip("voice activity", t, end)))
    return row


def words_row(sections: dict[str, Json]) -> Row:
    row = Row("words", "Transcript words", "transcript")
    for record in _records(sections, "transcript"):
        for word in timed(record.get("words") or []):
            t = float(word["t"])
            end = number(word.get("end_t")) or t
            text = str(word.get("text") or "").strip()
            row.items.append(Item(t, end, text, _tip(f"“{text}”", t, end, word)))
    return row


def beats_row(sections: dict[str, Json]) -> Row:
    row = Row("beats", "Beats", "audio_features")
    beats = _summary(sections, "audio_features").get("beats") or []
    values = sorted(b for b in (number(v) for v in beats) if b is not None)
    tempo = number(_summary(sections, "audio_features").get("tempo_bpm"))
    for i, t in enumerate(values):
        row.items.append(Item(t, t, f"beat {i + 1}", _tip(f"beat {i + 1}", t, None)
                              + (f"\ntempo: {tempo:.1f} BPM" if tempo else "")))
    return row


def audio_events_row(sections: dict[str, Json], duration: float | None) -> Row:
    row = Row("audio_events", "Audio events", "audio_events")
    for record, t, end in spans(_records(sections, "audio_events"), duration):
        tags = ", ".join(f"{label_of(tag)} {number(tag.get('score')) or 0:.2f}"
                         for tag in record.get("tags") or [] if isinstance(tag, dict))
        tip = _tip(label_of(record, "event"), t, end, record) + (f"\ntags: {tags}" if tags else "")
        row.items.append(Item(t, end, label_of(record, "event"), tip))
    return row


def camera_row(sections: dict[str, Json], duration: float | None) -> Row:
    row = Row("camera_motion", "Camera motion", "camera_motion")
    for record, t, end in spans(_records(sections, "camera_motion"), duration):
        label = label_of(record, "motion")
        row.items.append(Item(t, end, label, _tip(label, t, end, record)))
    return row


def events_row(timeline: Sequence[Json]) -> Row:
    row = Row("events", "Events", "report timeline")
    for event in timed(timeline):
        t = float(event["t"])
        label = str(event.get("label") or "")
        row.items.append(Item(t, t, label, _tip(f"{label} ({event.get('analyzer')})", t, None)))
    return row


def generic_row(key: str, section: Json, duration: float | None) -> Row:
    row = Row(f"section-{key}", key, key)
    for record, t, end in spans(timed(section.get("records", [])), duration):
        label = label_of(record)
        row.items.append(Item(t, end, label, _tip(label or key, t, end, record)))
    return row


SPECIFIC = ("ocr", "faces", "objects", "transcript", "audio_features", "audio_events",
            "camera_motion")
"""Sections drawn by the rows above; every other section gets a generic row."""


def rows(sections: dict[str, Json], timeline: Sequence[Json], starts: Sequence[float],
         duration: float | None) -> list[Row]:
    built = [
        shots_row(starts, duration),
        text_row(sections, duration),
        faces_row(sections, duration),
        objects_row(sections, duration),
        speech_row(sections, duration),
        words_row(sections),
        beats_row(sections),
        audio_events_row(sections, duration),
        camera_row(sections, duration),
    ]
    for row in built:
        if not row.items:
            row.note = why_empty(sections, row.source)
    built.append(events_row(timeline))
    for key, section in sorted(sections.items()):
        if key not in SPECIFIC and timed(section.get("records", [])):
            built.append(generic_row(key, section, duration))
    return [stack(row) for row in built]


def why_empty(sections: dict[str, Json], source: str, none: str = "none") -> str:
    """Why ``source`` gave nothing to show: not in the report, skipped or failed (with the
    reason), or it ran and found ``none``."""
    if source == "sampler":
        return "no video frames"
    section = sections.get(source)
    if section is None:
        return f"{source} is not in this report"
    status = section.get("status")
    if status != "ok":
        return f"{source} {status}: {brief(str(section.get('reason') or 'no reason given'))}"
    return f"{source} found {none}"

