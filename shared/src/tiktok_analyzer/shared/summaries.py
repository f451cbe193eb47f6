"""Video-level summaries built from the time-stamped records of every batch.

These run in the aggregator, which has none of the analyzers' heavy dependencies, so they
use only numpy. Each function takes every record of one analyzer, sorted by ``t``.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

Records = list[dict[str, Any]]
Summarizer = Callable[[Records], dict[str, Any]]

SUMMARIZERS: dict[str, Summarizer] = {}


def summarizer(key: str) -> Callable[[Summarizer], Summarizer]:
    def wrap(fn: Summarizer) -> Summarizer:
        SUMMARIZERS[key] = fn
        return fn

    return wrap


def _mean(records: Records, field: str) -> float | None:
    values = [r[field] for r in records if r.get(field) is not None]
    return round(float(np.mean(values)), 4) if values else None


def frame_durations(times: list[float]) -> list[float]:
    """How long each sampled frame stands for: the gap to the next sample (the last one gets
    the median gap)."""
    if not times:
        return []
    gaps = [b - a for a, b in itertools.pairwise(times)]
    last = float(np.median(gaps)) if gaps else 0.0
    return [*gaps, last]


@summarizer("color")
def summarize_color(records: Records) -> dict[str, Any]:
    # Swatches of one quantisation bin are merged, their colours averaged by share.
    weight: Counter[int] = Counter()
    rgb_sum: dict[int, np.ndarray] = defaultdict(lambda: np.zeros(3))
    for r in records:
        for swatch in r["palette"]:
            weight[swatch["bin"]] += swatch["share"]
            rgb_sum[swatch["bin"]] += np.asarray(swatch["rgb"], dtype=float) * swatch["share"]
    total = sum(weight.values()) or 1.0
    palette = []
    for b, w in weight.most_common(5):
        rgb = [round(c) for c in rgb_sum[b] / w]
        palette.append({"hex": "#{:02x}{:02x}{:02x}".format(*rgb), "rgb": rgb,
                        "share": round(w / total, 4)})
    return {
        "dominant_colors": palette,
        "brightness": _mean(records, "brightness"),
        "saturation": _mean(records, "saturation"),
        "colorfulness": _mean(records, "colorfulness"),
        "warmth": _mean(records, "warmth"),
    }


@summarizer("quality")
def summarize_quality(records: Records) -> dict[str, Any]:
    sharp = [r["sharpness"] for r in records]
    return {
        "sharpness_mean": _mean(records, "sharpness"),
        "sharpness_min": round(float(min(sharp)), 4) if sharp else None,
        "noise_mean": _mean(records, "noise"),
        "contrast_mean": _mean(records, "contrast"),
        "clipped_dark_mean": _mean(records, "clipped_dark"),
        "clipped_bright_mean": _mean(records, "clipped_bright"),
        "black_bars": records[len(records) // 2]["black_bars"] if records else None,
    }


@summarizer("audio_features")
def summarize_audio_features(records: Records) -> dict[str, Any]:
    # Tempo from chunks with enough beats to trust, weighted by duration: the median resists
    # one chunk locking onto half or double time.
    usable = [r for r in records if r.get("tempo_bpm") and len(r.get("beats", [])) >= 4]
    tempo = None
    if usable:
        tempi = np.repeat([r["tempo_bpm"] for r in usable],
                          [max(1, round(r["duration_s"])) for r in usable])
        tempo = round(float(np.median(tempi)), 2)
    durations = np.array([r["duration_s"] for r in records]) if records else np.array([])
    energy = np.array([10 ** (r["rms_dbfs"] / 10) for r in records]) if records else np.array([])
    rms = (round(float(10 * np.log10(np.average(energy, weights=durations) + 1e-12)), 2)
           if records else None)
    loud = [(r["loudness_lufs"], r["duration_s"]) for r in records
            if r.get("loudness_lufs") is not None]
    lufs = None
    if loud:
        power = np.average([10 ** (v / 10) for v, _ in loud], weights=[d for _, d in loud])
        lufs = round(float(10 * np.log10(power)), 2)
    return {
        "tempo_bpm": tempo,
        "beats": [b for r in records for b in r.get("beats", [])],
        "rms_dbfs": rms,
        "loudness_lufs": lufs,
        "spectral_centroid_hz": _mean(records, "spectral_centroid_hz"),
        "spectral_rolloff_hz": _mean(records, "spectral_rolloff_hz"),
    }


@summarizer("objects")
def summarize_objects(records: Records) -> dict[str, Any]:
    durations = frame_durations([r["t"] for r in records])
    screen_time: dict[str, float] = defaultdict(float)
    max_count: dict[str, int] = defaultdict(int)
    first_seen: dict[str, float] = {}
    for record, dt in zip(records, durations, strict=True):
        counts = Counter(d["label"] for d in record["detections"])
        for label, count in counts.items():
            screen_time[label] += dt
            max_count[label] = max(max_count[label], count)
            first_seen.setdefault(label, record["t"])
    ranked = sorted(screen_time, key=lambda k: screen_time[k], reverse=True)
    return {
        "classes": {
            label: {
                "screen_time_s": round(screen_time[label], 3),
                "max_simultaneous": max_count[label],
                "first_seen_s": first_seen[label],
            }
            for label in ranked
        },
        "top_objects": ranked[:5],
    }


def summarize(key: str, records: Records) -> dict[str, Any]:
    fn = SUMMARIZERS.get(key)
    return fn(sorted(records, key=lambda r: r.get("t", 0.0))) if fn else {}
