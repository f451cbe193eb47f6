"""The report's summary block: short-form headline metrics from whichever analyzers ran.

Each metric names where it comes from: the sampler's manifest (shots), or one analyzer's
video-level summary (``SOURCES``). A metric whose source did not run, or failed, is null, and
``unavailable`` says what it needs, so a consumer can tell "none" from "not measured".
"""

from __future__ import annotations

from typing import Any

from tiktok_analyzer.shared.events import AnalyzerStatus, SamplingManifest
from tiktok_analyzer.shared.report import AnalyzerSection, HookMetrics, ReportSummary

HOOK_WINDOW_S = 3.0

# metric -> (analyzer, key of that analyzer's video-level summary). Analyzers that are added
# later fill a metric by providing that key.
SOURCES: dict[str, tuple[str, str]] = {
    "speech_ratio": ("audio_events", "speech_ratio"),
    "text_screen_share": ("ocr", "screen_share"),
    "face_screen_time_s": ("faces", "screen_time_s"),
    "transcript_text": ("transcript", "text"),
    "top_objects": ("objects", "top_objects"),
    "tempo_bpm": ("audio_features", "tempo_bpm"),
    "loudness_lufs": ("audio_features", "loudness_lufs"),
    "sharpness_mean": ("quality", "sharpness_mean"),
}
HOOK_SOURCES: dict[str, tuple[str, str]] = {
    "first_word_s": ("transcript", "first_word_s"),
    "first_text_s": ("ocr", "first_seen_s"),
    "first_face_s": ("faces", "first_seen_s"),
}


def _ok(sections: dict[str, AnalyzerSection], key: str) -> AnalyzerSection | None:
    section = sections.get(key)
    return section if section is not None and section.status is AnalyzerStatus.OK else None


def _why(sections: dict[str, AnalyzerSection], key: str) -> str:
    section = sections.get(key)
    if section is None:
        return f"needs analyzer {key} (not enabled)"
    return f"analyzer {key} {section.status}" + (f": {section.reason}" if section.reason else "")


def _mean_in_window(section: AnalyzerSection | None, field: str) -> float | None:
    if section is None:
        return None
    values = [r[field] for r in section.records
              if r.get("t", 0.0) < HOOK_WINDOW_S and r.get(field) is not None]
    return round(sum(values) / len(values), 4) if values else None


def _hook(manifest: SamplingManifest, sections: dict[str, AnalyzerSection],
          unavailable: dict[str, str]) -> HookMetrics:
    cuts = [t for t in manifest.shot_starts_s if 0 < t < HOOK_WINDOW_S]
    audio, color, objects = (_ok(sections, k) for k in ("audio_features", "color", "objects"))
    hook: dict[str, Any] = {
        "window_s": HOOK_WINDOW_S,
        "cuts": len(cuts) if manifest.media.width else None,
        "first_cut_s": next((t for t in manifest.shot_starts_s if t > 0), None),
        "beats": (sum(1 for b in audio.summary.get("beats", []) if b < HOOK_WINDOW_S)
                  if audio else None),
        "brightness": _mean_in_window(color, "brightness"),
        "colorfulness": _mean_in_window(color, "colorfulness"),
        "objects": (sorted({d["label"] for r in objects.records if r["t"] < HOOK_WINDOW_S
                            for d in r.get("detections", [])}) if objects else None),
    }
    for metric, (analyzer, key) in HOOK_SOURCES.items():
        section = _ok(sections, analyzer)
        hook[metric] = section.summary.get(key) if section else None
        if section is None:
            unavailable[f"hook.{metric}"] = _why(sections, analyzer)
    return HookMetrics(**hook)


def build_summary(manifest: SamplingManifest,
                  sections: dict[str, AnalyzerSection]) -> ReportSummary:
    unavailable: dict[str, str] = {}
    values: dict[str, Any] = {}
    for metric, (analyzer, key) in SOURCES.items():
        section = _ok(sections, analyzer)
        values[metric] = section.summary.get(key) if section else None
        if section is None:
            unavailable[metric] = _why(sections, analyzer)
    color = _ok(sections, "color")
    values["dominant_colors"] = ([c["hex"] for c in color.summary["dominant_colors"][:3]]
                                 if color else None)
    if color is None:
        unavailable["dominant_colors"] = _why(sections, "color")

    duration = manifest.decoded_duration_s or manifest.media.duration_s
    if manifest.media.width and manifest.shot_starts_s and duration:
        shots = len(manifest.shot_starts_s)
        values |= {"shots": shots, "average_shot_s": round(duration / shots, 3),
                   "cuts_per_minute": round((shots - 1) / duration * 60, 2)}
    else:
        unavailable["cuts_per_minute"] = "needs a video stream"
    return ReportSummary(duration_s=round(duration, 3) if duration else None,
                         hook=_hook(manifest, sections, unavailable),
                         unavailable=unavailable, **values)
