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
    onsets = [(r["onset_strength_mean"], r["duration_s"]) for r in records
              if r.get("onset_strength_mean") is not None]
    onset_mean = (round(float(np.average([v for v, _ in onsets],
                                         weights=[max(d, 1e-9) for _, d in onsets])), 4)
                  if onsets else None)
    return {
        "tempo_bpm": tempo,
        "beats": [b for r in records for b in r.get("beats", [])],
        "rms_dbfs": rms,
        "loudness_lufs": lufs,
        "spectral_centroid_hz": _mean(records, "spectral_centroid_hz"),
        "spectral_rolloff_hz": _mean(records, "spectral_rolloff_hz"),
        "onset_strength_mean": onset_mean,
        "onset_curve": [point for r in records for point in r.get("onset_curve", [])],
        **_key_vote(records),
    }


def _key_vote(records: Records) -> dict[str, Any]:
    """The video's key: each chunk with a key votes with its duration times its confidence.
    ``key_confidence`` is the winner's duration-weighted mean correlation, ``key_share`` the
    share of the audio with any key that agrees with it."""
    votes: dict[str, float] = defaultdict(float)
    time: dict[str, float] = defaultdict(float)
    for r in records:
        if r.get("key") and r["duration_s"] > 0:
            votes[r["key"]] += r["duration_s"] * r["key_confidence"]
            time[r["key"]] += r["duration_s"]
    if not votes:
        return {"key": None, "key_confidence": None, "key_share": None}
    key = max(votes, key=lambda k: votes[k])
    return {"key": key, "key_confidence": round(votes[key] / time[key], 3),
            "key_share": round(time[key] / sum(time.values()), 4)}


@summarizer("pitch")
def summarize_pitch(records: Records) -> dict[str, Any]:
    # The mean weights each chunk's mean by its voiced seconds; median, range and variability
    # pool every voiced contour point (one per contour step, so equal time each), which also
    # counts how far the chunks' levels differ from one another.
    covered = sum(max(0.0, r["end_t"] - r["t"]) for r in records)
    voiced_s = sum(r["voiced_s"] for r in records)
    means = [(r["mean_hz"], r["voiced_s"]) for r in records
             if r.get("mean_hz") is not None and r["voiced_s"] > 0]
    hz = np.array([v for r in records for _, v in r.get("contour", []) if v is not None],
                  dtype=float)
    out: dict[str, Any] = {
        "covered_s": round(covered, 3),
        "voiced_s": round(voiced_s, 3),
        "voiced_ratio": round(voiced_s / covered, 4) if covered > 0 else None,
        "mean_hz": (round(float(np.average([m for m, _ in means],
                                           weights=[w for _, w in means])), 2)
                    if means else None),
        "median_hz": None, "p5_hz": None, "p95_hz": None,
        "range_semitones": None, "std_semitones": None,
    }
    if len(hz):
        median = float(np.median(hz))
        p5, p95 = (float(v) for v in np.percentile(hz, [5, 95]))
        out |= {"median_hz": round(median, 2), "p5_hz": round(p5, 2), "p95_hz": round(p95, 2),
                "range_semitones": round(12 * float(np.log2(p95 / p5)), 3),
                "std_semitones": round(float(np.std(12 * np.log2(hz / median))), 3)}
    return out


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


def _segment_s(record: dict[str, Any]) -> float:
    return max(0.0, float(record["end_t"]) - float(record["t"]))


@summarizer("audio_events")
def summarize_audio_events(records: Records) -> dict[str, Any]:
    # Shares of the time the segments cover (chunks own disjoint spans, so nothing counts
    # twice); tags weighted by segment duration, silence (which has none) diluting them.
    time: dict[str, float] = defaultdict(float)
    tag_time: dict[str, float] = defaultdict(float)
    for r in records:
        time[r["kind"]] += _segment_s(r)
        for tag in r.get("tags", []):
            tag_time[tag["label"]] += tag["score"] * _segment_s(r)
    total = sum(time.values())

    def ratio(kind: str) -> float | None:
        return round(time[kind] / total, 4) if total > 0 else None

    ranked = sorted(tag_time, key=lambda k: tag_time[k], reverse=True)[:5]
    return {
        "speech_ratio": ratio("speech"),
        "music_ratio": ratio("music"),
        "silence_ratio": ratio("silence"),
        "other_ratio": ratio("other"),
        "covered_s": round(total, 3),
        "speech_s": round(time["speech"], 3),
        "music_s": round(time["music"], 3),
        "first_speech_s": next((r["t"] for r in records if r["kind"] == "speech"), None),
        "top_tags": [{"label": k, "score": round(tag_time[k] / total, 4)} for k in ranked],
    }


@summarizer("speech_emotion")
def summarize_speech_emotion(records: Records) -> dict[str, Any]:
    # Each piece of speech votes for its top emotion with its duration.
    time: dict[str, float] = defaultdict(float)
    for r in records:
        time[r["emotion"]] += _segment_s(r)
    total = sum(time.values())
    shares = ({k: round(v / total, 4) for k, v in sorted(time.items(), key=lambda kv: -kv[1])}
              if total > 0 else {})
    return {
        "dominant_emotion": next(iter(shares), None),
        "emotion_shares": shares,
        "speech_s": round(total, 3),
        "segments": len(records),
    }


# Scripts faster-whisper splits into words without spaces; their text is joined without them.
_UNSPACED_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "my", "yue"})


@summarizer("transcript")
def summarize_transcript(records: Records) -> dict[str, Any]:
    # Every segment holds only words its chunk owns, so joining them in time order is the
    # whole transcript once. The language is the one spoken longest (chunks detect it on their
    # own and can disagree on short or unclear ones).
    seconds: Counter[str] = Counter()
    for r in records:
        seconds[r["language"]] += max(0.0, r["end_t"] - r["t"]) or 1e-6
    language = seconds.most_common(1)[0][0] if seconds else None
    joiner = "" if language in _UNSPACED_LANGUAGES else " "
    words = [w for r in records for w in r.get("words", [])]
    word_count = sum(len(r["words"]) if r.get("words") else len(r["text"].split())
                     for r in records)
    first = min((w["t"] for w in words), default=None)
    if first is None and records:
        first = records[0]["t"]
    return {
        "text": joiner.join(r["text"] for r in records if r["text"]),
        "language": language,
        "language_seconds": {k: round(v, 3) for k, v in seconds.most_common()},
        "first_word_s": first,
        "word_count": word_count,
        "segments": len(records),
    }


@summarizer("speech_rate")
def summarize_speech_rate(records: Records) -> dict[str, Any]:
    # Rates pool words and speaking time over the chunks that had a transcript, so long
    # chunks weigh more than short ones. Pauses: those inside chunks, plus the silences that
    # span a chunk boundary, which no chunk sees whole: from the last speech of one chunk with
    # speech to the first speech of the next.
    rated = [r for r in records if r.get("words_speaking_s") is not None]
    words = sum(r["word_count"] for r in rated)
    syllables = sum(r["syllable_count"] for r in rated)
    speaking = sum(r["words_speaking_s"] for r in rated)
    duration = sum(max(0.0, r["end_t"] - r["t"]) for r in records)
    voiced = sum(r["speaking_s"] for r in records)
    pauses = [p["end_t"] - p["t"] for r in records for p in r.get("pauses", [])]
    last_end: float | None = None
    for r in records:
        if r.get("speech_start_t") is None:
            continue
        if last_end is not None and r["speech_start_t"] - last_end >= r["min_pause_s"] - 1e-6:
            pauses.append(r["speech_start_t"] - last_end)
        last_end = r["speech_end_t"]
    unavailable = Counter(r["rate_unavailable"] for r in records
                          if r.get("rate_unavailable") and r.get("words_speaking_s") is None)
    return {
        "words_per_minute": round(60 * words / speaking, 2) if speaking > 0 else None,
        "syllables_per_second": round(syllables / speaking, 3) if speaking > 0 else None,
        "word_count": words if rated else None,
        "words_speaking_s": round(speaking, 3) if rated else None,
        "speaking_s": round(voiced, 3),
        "speaking_ratio": round(voiced / duration, 4) if duration > 0 else None,
        "pause_count": len(pauses),
        "longest_pause_s": round(max(pauses), 3) if pauses else None,
        "rate_unavailable": (unavailable.most_common(1)[0][0]
                             if unavailable and not rated else None),
    }


def summarize(key: str, records: Records) -> dict[str, Any]:
    fn = SUMMARIZERS.get(key)
    return fn(sorted(records, key=lambda r: r.get("t", 0.0))) if fn else {}
