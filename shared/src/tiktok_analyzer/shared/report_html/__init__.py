"""One self-contained HTML page per final report: header, analyzer status, headline metrics,
keyframes, a timeline, charts over time and the transcript (docs/report.md, "The HTML
report"). Importing it needs only Jinja2; keyframes need PyAV and Pillow, imported when used."""

from tiktok_analyzer.shared.report_html.keyframes import (
    Keyframe,
    KeyframeError,
    extract_keyframes,
    shot_starts,
)
from tiktok_analyzer.shared.report_html.render import (
    HTML_SUFFIX,
    STORED_VIDEO_SRC,
    build_html,
    html_path_for,
    render_html,
    stored_page_key,
    write_html,
)

__all__ = ["HTML_SUFFIX", "STORED_VIDEO_SRC", "Keyframe", "KeyframeError", "build_html",
           "extract_keyframes", "html_path_for", "render_html", "shot_starts", "stored_page_key",
           "write_html"]
