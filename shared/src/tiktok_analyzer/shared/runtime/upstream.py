"""Why another analyzer's output is missing, in the words every part of a report uses.

Derived analyzers (in a group or over the report) and the headline block all say it the same
way, so a consumer can tell "none found" from "not measured" and see what to enable.
"""

from __future__ import annotations

from tiktok_analyzer.shared.contracts.events import AnalyzerStatus


def why_unavailable(key: str, status: AnalyzerStatus | None, reason: str | None = None,
                    *, installed: bool = True) -> str:
    """``needs analyzer faces (not installed)``, ``needs analyzer ocr (not enabled)``,
    ``analyzer transcript skipped: <its reason>``, ``analyzer motion failed: <error>``."""
    if not installed:
        return f"needs analyzer {key} (not installed)"
    if status is None:
        return f"needs analyzer {key} (not enabled)"
    return f"analyzer {key} {status}" + (f": {reason}" if reason else "")
