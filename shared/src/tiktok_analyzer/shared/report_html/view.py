"""What the page shows, worked out from the report: the template only lays it out."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tiktok_analyzer.shared.report_html.keyframes import Keyframe, nearest
from tiktok_analyzer.shared.report_html.records import (
    PULL,
    Box,
    Json,
    boxes_in,
    brief,
    fmt,
    number,
    scalars,
    timed,
)

HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
BOX_SOURCES = ("objects", "faces", "ocr")
"""Sections whose records carry boxes drawn on the keyframes (normalised ``box`` fields)."""
RECORDS_SHOWN = 200


@dataclass(frozen=True)
class Fact:
    name: str
    value: str


@dataclass(frozen=True)
class AnalyzerRow:
    key: str
    group: str
    status: str
    model: str
    elapsed_s: str
    batches: int
    records: int
    reason: str
    pull: str | None
    """The command that fetches missing weights, when the reason gives one."""


@dataclass(frozen=True)
class Metric:
    key: str
    name: str
    value: str | None
    """None: not measured; ``why`` says what it needs."""
    why: str | None = None
    """Why it is missing, in full (the page shows ``brief`` of it and this on hover)."""
    swatches: tuple[str, ...] = ()


    @property
    def why_brief(self) -> str:
        return brief(self.why) if self.why else "not measured"


@dataclass(frozen=True)
class DrawnBox:
    source: str
    box: Box

    @property
    def style(self) -> str:
        b = self.box
        return (f"left:{b.x1 * 100:.2f}%;top:{b.y1 * 100:.2f}%;"
                f"width:{(b.x2 - b.x1) * 100:.2f}%;height:{(b.y2 - b.y1) * 100:.2f}%")

    @property
    def caption(self) -> str:
        score = f" {self.box.score:.2f}" if self.box.score is not None else ""
        return f"{self.box.label or self.source}{score}"


@dataclass(frozen=True)
class Shot:
    index: int
    t: float
    end_t: float
    image: str | None
    caption: str | None
    boxes: list[DrawnBox]


@dataclass(frozen=True)
class TranscriptLine:
    t: float
    end_t: float
    text: str
    words: list[tuple[float, float, str]]


@dataclass
class SectionView:
    key: str
    status: str
    reason: str | None
    summary: Any
    record_count: int
    columns: list[str] = field(default_factory=list)
    records: list[tuple[float, float | None, list[str]]] = field(default_factory=list)


def media_facts(doc: Json) -> list[Fact]:
    source = doc.get("source") or {}
    facts = [Fact("video ID", str(doc.get("video_id"))),
             Fact("source", f"{source.get('bucket')}/{source.get('key')}")]
    m = doc.get("media")
    if isinstance(m, dict):
        duration, fps, size = (number(m.get(k)) for k in ("duration_s", "fps", "size_bytes"))
        facts += [
            Fact("container", fmt(m.get("container"))),
            Fact("duration", f"{duration:.2f} s" if duration is not None else "unknown"),
            Fact("resolution", f"{m['width']}x{m['height']}" if m.get("width") else "no video"),
            Fact("frame rate", f"{fps:.3g} fps" if fps else "—"),
            Fact("codecs", " / ".join(str(m[k]) for k in ("video_codec", "audio_codec")
                                      if m.get(k)) or "—"),
            Fact("rotation", f"{m.get('rotation_deg', 0)}°"),
            Fact("pixel aspect", fmt(m.get("pixel_aspect", 1.0))),
            Fact("size", f"{size / 1e6:.2f} MB" if size is not None else "—"),
        ]
    upstream = doc.get("upstream")
    if isinstance(upstream, dict):
        facts += [Fact("platform", f"{upstream.get('platform')} "
                                   f"{upstream.get('platform_video_id')}"),
                  Fact("author", fmt(upstream.get("author"))),
                  Fact("caption", fmt(upstream.get("caption")))]
    created = str(doc.get("created_at") or "")[:19].replace("T", " ")
    facts.append(Fact("report", f"version {doc.get('report_version', 1)}, {created} UTC"))
    return facts


def analyzer_rows(sections: dict[str, Json]) -> list[AnalyzerRow]:
    rows = []
    for key, s in sorted(sections.items()):
        reason = str(s.get("reason") or "")
        model = s.get("model_id") or "—"
        if s.get("model_revision"):
            model += f"@{str(s['model_revision'])[:12]}"
        pull = PULL.search(reason)
        rows.append(AnalyzerRow(key, str(s.get("group", "")), str(s.get("status", "")), model,
                                f"{number(s.get('elapsed_s')) or 0:.2f}",
                                int(number(s.get("batches")) or 0), len(s.get("records") or []),
                                reason, pull.group(0) if pull else None))
    return rows


_HEADLINE = (
    ("duration_s", "Duration", "{:.1f} s"),
    ("shots", "Shots", "{:g}"),
    ("cuts_per_minute", "Cuts per minute", "{:.1f}"),
    ("average_shot_s", "Average shot", "{:.2f} s"),
    ("speech_ratio", "Speech ratio", "{:.0%}"),
    ("text_screen_share", "On-screen text share", "{:.0%}"),
    ("face_screen_time_s", "Face screen time", "{:.1f} s"),
    ("tempo_bpm", "Tempo", "{:.1f} BPM"),
    ("loudness_lufs", "Loudness", "{:.1f} LUFS"),
    ("sharpness_mean", "Sharpness (mean)", "{:.1f}"),
)


def headline(summary: Json | None) -> list[Metric]:
    """The report's headline block: the named metrics first, then any others it carries
    (fields added to the summary later show up without a change here)."""
    if not summary:
        return []
    why = summary.get("unavailable") or {}
    metrics = []
    for key, name, pattern in _HEADLINE:
        value = number(summary.get(key))
        metrics.append(Metric(key, name, pattern.format(value) if value is not None else None,
                              why.get(key)))
    colors = summary.get("dominant_colors")
    swatches = tuple(c for c in colors or [] if isinstance(c, str) and HEX.match(c))
    metrics.append(Metric("dominant_colors", "Dominant colours",
                          " ".join(swatches) if colors is not None else None,
                          why.get("dominant_colors"), swatches))
    objects = summary.get("top_objects")
    metrics.append(Metric("top_objects", "Top objects",
                          ", ".join(map(str, objects)) or "none" if objects is not None
                          else None, why.get("top_objects")))
    known = {k for k, _, _ in _HEADLINE} | {"dominant_colors", "top_objects", "hook",
                                           "unavailable", "transcript_text"}
    for key, value in summary.items():
        if key not in known:
            metrics.append(Metric(key, key.replace("_", " ").capitalize(),
                                  None if value is None else _short(value), why.get(key)))
    return metrics


def hook(summary: Json | None, sections: dict[str, Json]) -> tuple[float | None, list[Metric]]:
    """The opening window's metrics, each with why it is missing: the ``hook`` section's
    summary, or ``summary.hook`` in reports written before the hook became an analyzer."""
    section = sections.get("hook") or {}
    block = section.get("summary") or (summary or {}).get("hook")
    if not isinstance(block, dict) or not block:
        return None, []
    why = {**((summary or {}).get("unavailable") or {}), **(block.get("unavailable") or {})}
    metrics = [Metric(key, key.replace("_", " "), None if value is None else _short(value),
                      why.get(f"hook.{key}", why.get(key)))
               for key, value in block.items() if key not in ("window_s", "unavailable")]
    return number(block.get("window_s")), metrics


def _short(value: Any) -> str:
    if isinstance(value, float):
        return fmt(value)
    if isinstance(value, list):
        return ", ".join(_short(v) for v in value) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_short(v)}" for k, v in value.items())
    return fmt(value)


def shots(starts: Sequence[float], duration: float | None, keyframes: Sequence[Keyframe],
          sections: dict[str, Json]) -> list[Shot]:
    out = []
    for i, t in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else max(duration or t, t)
        frame = nearest(keyframes, t)
        boxes = [DrawnBox(source, box) for source in BOX_SOURCES
                 for box in boxes_in(_record_near(sections, source, t, end))]
        out.append(Shot(i + 1, t, end, frame.data_uri() if frame else None,
                        _caption(sections, t, end), boxes))
    return out


def _record_near(sections: dict[str, Json], key: str, t: float, end: float,
                 within_s: float = 0.5) -> Json | None:
    """The record of ``key`` closest to the keyframe at ``t`` and inside its shot."""
    section = sections.get(key) or {}
    inside = [r for r in timed(section.get("records", []))
              if t - 1e-6 <= float(r["t"]) < max(end, t + 1e-6)
              and float(r["t"]) - t <= within_s]
    return min(inside, key=lambda r: float(r["t"]) - t, default=None)


def _caption(sections: dict[str, Json], t: float, end: float) -> str | None:
    record = _record_near(sections, "caption", t, end, within_s=max(end - t, 0.5))
    if record is None:
        return None
    text = record.get("caption", record.get("text"))
    return str(text).strip() if text else None


def transcript(sections: dict[str, Json]) -> list[TranscriptLine]:
    section = sections.get("transcript") or {}
    lines = []
    for record in timed(section.get("records", [])):
        words = [(float(w["t"]), number(w.get("end_t")) or float(w["t"]),
                  str(w.get("text") or "").strip()) for w in timed(record.get("words") or [])]
        t = float(record["t"])
        lines.append(TranscriptLine(t, number(record.get("end_t")) or t,
                                    str(record.get("text") or "").strip(), words))
    return lines


def section_views(sections: dict[str, Json]) -> list[SectionView]:
    views = []
    for key, s in sorted(sections.items()):
        records = timed(s.get("records", []))
        columns: list[str] = []
        for record in records[:RECORDS_SHOWN]:
            columns += [name for name, _ in scalars(record, limit=12) if name not in columns]
        columns = columns[:12]
        rows = []
        for record in records[:RECORDS_SHOWN]:
            values = dict(scalars(record, limit=50))
            nested = [name for name, v in record.items() if isinstance(v, dict | list) and v]
            rows.append((float(record["t"]), number(record.get("end_t")),
                         [values.get(c, "") for c in columns]
                         + [", ".join(f"{n}[{_size(record[n])}]" for n in nested)]))
        views.append(SectionView(key, str(s.get("status")), s.get("reason"),
                                 s.get("summary") or {}, len(records), columns, rows))
    return views


def _size(value: Any) -> int:
    return len(value) if isinstance(value, list | dict) else 1



@dataclass(frozen=True)
class Header:
    video_id: str
    status: str
    reason: str | None
    missing: list[str]
    failed: list[str]
    warnings: list[str]


def header(doc: Json) -> Header:
    def strings(name: str) -> list[str]:
        value = doc.get(name)
        return [str(v) for v in value] if isinstance(value, list) else []

    return Header(str(doc.get("video_id") or "unknown"), str(doc.get("status") or "unknown"),
                  str(doc["reason"]) if doc.get("reason") else None, strings("missing"),
                  strings("failed"), strings("warnings"))
