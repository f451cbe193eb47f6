"""Series for the charts over time, as plain data the page's script hands to Chart.js.

Four charts the issue names (motion and pacing, loudness, pitch contour, cuts per window), and
one per other section whose records carry numbers (colour, quality, ...), so that a section
added later is charted without a change here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tiktok_analyzer.shared.report_html.records import (
    Json,
    number,
    numeric_fields,
    pairs,
    timed,
)
from tiktok_analyzer.shared.report_html.timeline import why_empty

Point = tuple[float, float | None]
CHARTED = ("motion", "pacing", "audio_features", "pitch")
"""Sections with a chart of their own below; the others get a generic one."""
MAX_POINTS = 2000
"""Per series: enough for a three-minute pitch contour at 0.1 s, small enough for the page."""


def series(label: str, points: Sequence[Point], *, axis: str = "y",
           step: bool = False) -> Json:
    return {"label": label, "points": _thin([list(p) for p in points]), "axis": axis,
            "step": step}


def chart(chart_id: str, title: str, y_title: str, data: list[Json], *, kind: str = "line",
          y1_title: str | None = None, note: str | None = None) -> Json:
    data = [s for s in data if any(y is not None for _, y in s["points"])]
    return {"id": chart_id, "title": title, "type": kind, "y_title": y_title,
            "y1_title": y1_title, "series": data,
            "note": None if data else (note or "nothing to chart in this report")}


def _thin(points: list[list[Any]]) -> list[list[Any]]:
    if len(points) <= MAX_POINTS:
        return points
    step = math.ceil(len(points) / MAX_POINTS)
    return points[::step]


def _section_records(sections: dict[str, Json], key: str) -> list[Json]:
    section = sections.get(key)
    return timed(section.get("records", [])) if section else []


def _field_series(records: Sequence[Json], prefix: str = "", axis: str = "y") -> list[Json]:
    """One series per numeric field; records that are spans hold their value over the span."""
    spans = sum(number(r.get("end_t")) is not None for r in records) * 2 > len(records)
    return [series(f"{prefix}{name}", _spans_as_steps(records, name) if spans else
                   [(float(r["t"]), number(r.get(name))) for r in records], axis=axis,
                   step=spans)
            for name in numeric_fields(records)]


def _spans_as_steps(records: Sequence[Json], name: str, length_field: str | None = None
                    ) -> list[Point]:
    """A value held over each record's span (``end_t``, or ``t`` + a length field)."""
    points: list[Point] = []
    for record in records:
        t = float(record["t"])
        end = number(record.get("end_t"))
        if end is None and length_field:
            length = number(record.get(length_field))
            end = t + length if length is not None else None
        value = number(record.get(name))
        points.append((t, value))
        if end is not None and end > t:
            points.append((end, value))
    return points


def motion_chart(sections: dict[str, Json]) -> Json:
    data = _field_series(_section_records(sections, "motion"), "motion: ")
    data += _field_series(_section_records(sections, "pacing"), "pacing: ")
    features = sections.get("audio_features") or {}
    onset = pairs((features.get("summary") or {}).get("onset_curve"))
    if not onset:  # older reports keep the curve per chunk only
        onset = [p for r in _section_records(sections, "audio_features")
                 for p in pairs(r.get("onset_curve"))]
    data.append(series("audio onset strength", sorted(onset), axis="y1"))
    return chart("chart-motion", "Motion and pacing", "motion / pacing", data,
                 y1_title="onset strength",
                 note="; ".join(why_empty(sections, k) for k in ("motion", "pacing",
                                                                  "audio_features")))


def loudness_chart(sections: dict[str, Json]) -> Json:
    features = _section_records(sections, "audio_features")
    events = _section_records(sections, "audio_events")
    data = [series("RMS level (dBFS), per chunk", _spans_as_steps(features, "rms_dbfs",
                                                                  "duration_s"), step=True),
            series("loudness (LUFS), per chunk", _spans_as_steps(features, "loudness_lufs",
                                                                 "duration_s"), step=True),
            series("level (dBFS), per audio event", _spans_as_steps(events, "dbfs"), step=True)]
    return chart("chart-loudness", "Loudness", "dB", data,
                 note=why_empty(sections, "audio_features"))


def pitch_chart(sections: dict[str, Json]) -> Json:
    contour: list[Point] = []
    for record in _section_records(sections, "pitch"):
        contour += pairs(record.get("contour"))
        contour.append((number(record.get("end_t")) or float(record["t"]), None))  # chunk gap
    return chart("chart-pitch", "Pitch contour", "Hz",
                 [series("fundamental frequency (Hz)", sorted(contour, key=lambda p: p[0]))],
                 note=why_empty(sections, "pitch", "no voiced speech"))


def cuts_window_s(duration: float) -> float:
    """The shortest of 1, 2, 5, 10, 30 s giving at most 30 windows."""
    return next((w for w in (1.0, 2.0, 5.0, 10.0, 30.0) if duration / w <= 30), 60.0)


def cuts_chart(starts: Sequence[float], duration: float | None) -> Json:
    if not starts or not duration:
        return chart("chart-cuts", "Cuts per window", "cuts", [], kind="bar",
                     note="no shots: the video has no frames")
    window = cuts_window_s(duration)
    counts = [0] * max(1, math.ceil(duration / window))
    for t in starts[1:]:  # the first shot's start is not a cut
        counts[min(len(counts) - 1, int(t // window))] += 1
    data = [series(f"cuts per {window:g} s", [(i * window, float(n))
                                              for i, n in enumerate(counts)])]
    result = chart("chart-cuts", f"Cuts per {window:g} s window", "cuts", data, kind="bar")
    result["window_s"] = window
    return result


def section_charts(sections: dict[str, Json]) -> list[Json]:
    out = []
    for key, section in sorted(sections.items()):
        if key in CHARTED:
            continue
        data = _field_series(timed(section.get("records", [])))
        if data:
            out.append(chart(f"chart-section-{key}", f"{key} over time", key, data))
    return out


def charts(sections: dict[str, Json], starts: Sequence[float], duration: float | None
           ) -> list[Json]:
    return [motion_chart(sections), loudness_chart(sections), pitch_chart(sections),
            cuts_chart(starts, duration), *section_charts(sections)]
