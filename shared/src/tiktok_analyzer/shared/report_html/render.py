"""Render a final report as one self-contained HTML page.

The page is built from the report JSON alone (plus, optionally, keyframes taken from the source
video), so it can be rebuilt from any stored report. Styles, the page script and the chart
library are inlined and keyframes are embedded as data URIs: the file opens offline and
fetches nothing, except the video when a ``video_src`` is given.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from tiktok_analyzer.shared.contracts.report import FinalReport
from tiktok_analyzer.shared.report_html import charts, timeline, view
from tiktok_analyzer.shared.report_html.keyframes import Keyframe, keyframes_or_reason, shot_starts
from tiktok_analyzer.shared.report_html.records import Json, as_document, media_of

CHART_JS = "vendor/chart.umd.min.js"
CHART_JS_VERSION = "4.6.1"
"""The vendored Chart.js (static/vendor/README.md says where it comes from)."""
HTML_SUFFIX = ".report.html"
STORED_VIDEO_SRC = "video"
"""The player's source in a page stored by the aggregator: relative to the page, so served by
ingest at ``/v1/videos/<id>/report.html`` it is ingest's ``/v1/videos/<id>/video``."""


def stored_page_key(video_id: str) -> str:
    """The page's key in the report bucket, next to ``<video_id>.json``."""
    return f"{video_id}.html"


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("tiktok_analyzer.shared.report_html", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True)


@functools.cache
def _static(name: str) -> str:
    return (resources.files("tiktok_analyzer.shared.report_html") / "static" / name).read_text(
        encoding="utf-8")


def _ticks(duration: float) -> list[float]:
    step = next((s for s in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300) if duration / s <= 12),
                600.0)
    count = int(duration // step) + 1
    return [round(i * step, 3) for i in range(count)]


def render_html(report: FinalReport | Mapping[str, Any], *,
                keyframes: Sequence[Keyframe] = (), keyframes_note: str | None = None,
                video_src: str | None = None) -> str:
    """The page for ``report`` (a ``FinalReport``, or a stored report's JSON as read, which
    need not match today's contract). ``video_src`` is the player's URL (relative to the
    page, or absolute); without it the page has no player."""
    doc = as_document(report)
    sections: dict[str, Json] = {k: v for k, v in (doc.get("analyzers") or {}).items()
                                 if isinstance(v, dict)}
    media = media_of(doc)
    starts = shot_starts(doc)
    rows = timeline.rows(sections, doc.get("timeline") or [], starts,
                         media.duration_s if media else None)
    duration = (media.duration_s if media and media.duration_s else
                max((i.end_t for r in rows for i in r.items), default=0.0)) or None
    width, height = media.upright_aspect if media else (9.0, 16.0)
    hook_window, hook_metrics = view.hook(doc.get("summary"), sections)
    transcript_section = sections.get("transcript")
    chart_specs = charts.charts(sections, starts, duration) if duration else []
    return _environment().get_template("report.html.j2").render(
        report=view.header(doc),
        facts=view.media_facts(doc),
        analyzers=view.analyzer_rows(sections),
        metrics=view.headline(doc.get("summary")),
        hook_window=hook_window, hook_metrics=hook_metrics,
        shots=view.shots(starts, duration, keyframes, sections),
        keyframes_note=keyframes_note,
        aspect=f"{width:.0f} / {height:.0f}",
        rows=rows, duration=duration, ticks=_ticks(duration) if duration else [],
        charts=chart_specs,
        transcript=view.transcript(sections),
        transcript_note=("No transcript in this report." if transcript_section is None else
                         f"transcript {transcript_section.get('status')}: "
                         f"{transcript_section.get('reason') or 'no speech found'}"),
        sections=view.section_views(sections),
        video_src=video_src,
        data={"video_id": doc.get("video_id"), "duration": duration, "charts": chart_specs},
        css=_static("report.css"), page_js=_static("report.js"), chart_js=_static(CHART_JS),
        chart_js_version=CHART_JS_VERSION,
    )


def build_html(report: FinalReport | Mapping[str, Any], *, video: str | Path | None = None,
               video_src: str | None = None) -> str:
    """The page with a keyframe per shot taken from ``video`` (a path or a URL FFmpeg reads)
    when it can be read, else without images and a note saying why."""
    doc = as_document(report)
    frames, note = keyframes_or_reason(video, doc)
    return render_html(doc, keyframes=frames, keyframes_note=note, video_src=video_src)


def html_path_for(report_json: Path) -> Path:
    """``<id>.report.json`` -> ``<id>.report.html`` (any other name: ``.html`` appended)."""
    name = report_json.name
    stem = name[: -len(".report.json")] if name.endswith(".report.json") else name
    return report_json.with_name(stem + HTML_SUFFIX)


def write_html(report: FinalReport | Mapping[str, Any], target: Path, *,
               video: Path | None = None) -> Path:
    """Write the page to ``target`` with keyframes from ``video`` and a player that loads
    ``video`` by a path relative to the page, so the two can be moved together."""
    video_src = None
    if video is not None and video.is_file():
        relative = os.path.relpath(video.resolve(), target.resolve().parent)
        video_src = quote(Path(relative).as_posix())
    target.parent.mkdir(parents=True, exist_ok=True)
    page = build_html(report, video=video if video_src else None, video_src=video_src)
    target.write_text(page, encoding="utf-8")
    return target
