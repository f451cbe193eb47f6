"""``tiktok-analyzer view``: rebuild a report's HTML page from its JSON, and open it where a
browser can be shown."""

from __future__ import annotations

import json
import os
import sys
import webbrowser
from pathlib import Path
from typing import Any

from tiktok_analyzer.shared.report_html import html_path_for, write_html


def load_report(path: Path) -> dict[str, Any]:
    """The stored JSON as it is (not validated against today's contract, so that a report
    written by an older or newer version still renders). Raises ``ValueError``."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    if not isinstance(doc, dict) or "video_id" not in doc or "status" not in doc:
        raise ValueError(f"{path} is not a final report (no video_id and status)")
    return doc


def write_page(report: Any, json_path: Path, video: Path | None) -> Path | None:
    """The page next to ``json_path``; None (and a warning on stderr) when it cannot be made,
    which never costs the JSON report that is already written."""
    try:
        return write_html(report, html_path_for(json_path), video=video)
    except Exception as exc:
        print(f"warning: the HTML page could not be written: {exc}", file=sys.stderr)
        return None


def can_show_browser() -> bool:
    """Only where a graphical browser can appear: on Linux, only with a display (else
    ``webbrowser`` may run a text browser in this terminal, or nothing at all)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def open_in_browser(page: Path) -> bool:
    if not can_show_browser():
        return False
    try:
        return webbrowser.open(page.resolve().as_uri())
    except webbrowser.Error:
        return False
