"""Test helpers for the HTML report: a clip with known shots, report sections for analyzers that
cannot run here, and headless Chromium (the Debian package) driven over the DevTools protocol
by Playwright."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tiktok_analyzer.audio.analyzers.audio_events import AudioEventSegment, WindowTags
from tiktok_analyzer.audio.analyzers.speech_emotion import SpeechEmotionSegment
from tiktok_analyzer.audio.analyzers.transcript import TranscriptSegment, Word
from tiktok_analyzer.cli.sample import AUDIO_RATE, click_track
from tiktok_analyzer.shared.contracts.results import Detection, FrameDetections, LabelScore

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SHOT_COLORS = [(220, 30, 30), (30, 200, 40), (30, 40, 220), (240, 200, 20)]
SHOT_S = 1.5


def make_shots_video(path: Path, colors: Sequence[tuple[int, int, int]] = SHOT_COLORS,
                     shot_s: float = SHOT_S, fps: int = 30, width: int = 360,
                     height: int = 640, bpm: float = 120.0) -> Path:
    """H.264 + AAC: one solid colour per shot (hard cuts at multiples of ``shot_s``) over a
    click track at ``bpm``."""
    import av

    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = out.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        index = 0
        for color in colors:
            rgb = np.full((height, width, 3), color, dtype=np.uint8)
            for _ in range(round(shot_s * fps)):
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts, frame.time_base = index, Fraction(1, fps)
                index += 1
                out.mux(video.encode(frame))
        out.mux(video.encode(None))
        samples = click_track(len(colors) * shot_s, bpm)
        for start in range(0, len(samples), 1024):
            sound = av.AudioFrame.from_ndarray(samples[None, start:start + 1024], format="flt",
                                               layout="mono")
            sound.sample_rate, sound.pts = AUDIO_RATE, start
            sound.time_base = Fraction(1, AUDIO_RATE)
            out.mux(audio.encode(sound))
        out.mux(audio.encode(None))
    return path


def _section(key: str, group: str, records: Sequence[Any], summary: dict[str, Any]
             ) -> dict[str, Any]:
    return {"analyzer": key, "group": group, "version": "1", "model_id": f"test/{key}",
            "model_revision": "0" * 40, "status": "ok", "reason": None, "batches": 1,
            "elapsed_s": 0.1, "summary": summary,
            "records": [r if isinstance(r, dict) else r.model_dump(mode="json")
                        for r in records]}


def sections_that_cannot_run_here(duration: float) -> dict[str, dict[str, Any]]:
    """Sections for analyzers whose weights no test may hold, built from their own record
    types (so a change of shape breaks this), and for kinds whose analyzers are not in the
    tree yet (ocr, faces, caption) or may not run, in the shapes of ANALYZERS.md:
    time-stamped records with normalised boxes, spans with a label, a number per second.
    Callers keep the section of an analyzer that really ran."""
    words = [Word(t=1.0 + 0.4 * i, end_t=1.3 + 0.4 * i, text=w, probability=0.9)
             for i, w in enumerate(["hello", "and", "welcome", "back"])]
    transcript = [TranscriptSegment(t=1.0, end_t=2.6, text="hello and welcome back",
                                    language="en", language_probability=0.98,
                                    avg_logprob=-0.2, no_speech_prob=0.01,
                                    compression_ratio=1.2, words=words)]
    objects = [FrameDetections(t=t, detections=[
        Detection(label="person", class_id=0, confidence=0.91, box=(0.2, 0.15, 0.7, 0.9)),
        Detection(label="cup", class_id=41, confidence=0.55, box=(0.6, 0.6, 0.8, 0.8))])
        for t in (0.0, 1.5, 3.0)]
    tags = [LabelScore(label="Speech", score=0.8), LabelScore(label="Music", score=0.3)]
    events = [AudioEventSegment(t=0.0, end_t=1.0, kind="music", speech_score=0.1,
                                music_score=0.7, dbfs=-24.0, tags=tags[1:],
                                windows=[WindowTags(t=0.0, end_t=1.0, tags=tags[1:])]),
              AudioEventSegment(t=1.0, end_t=2.6, kind="speech", speech_score=0.8,
                                music_score=0.2, dbfs=-18.0, tags=tags,
                                windows=[WindowTags(t=1.0, end_t=2.6, tags=tags)])]
    emotions = [SpeechEmotionSegment(t=1.0, end_t=2.6, emotion="hap",
                               scores=[LabelScore(label="hap", score=0.7)])]
    seconds = [float(s) for s in range(int(duration))]
    return {
        "transcript": _section("transcript", "audio", transcript, {
            "text": "hello and welcome back", "language": "en", "first_word_s": 1.0,
            "word_count": 4, "segments": 1}),
        "objects": _section("objects", "gpu_heavy", objects, {"top_objects": ["person", "cup"]}),
        "audio_events": _section("audio_events", "audio", events, {"speech_ratio": 0.27}),
        "speech_emotion": _section("speech_emotion", "audio", emotions,
                                   {"dominant_emotion": "hap"}),
        "ocr": _section("ocr", "gpu_light", [
            {"t": t, "lines": [{"text": "FOLLOW FOR MORE", "confidence": 0.88,
                                "box": [0.1, 0.05, 0.9, 0.12]}]} for t in (0.0, 0.5, 1.0)],
            {"screen_share": 0.25}),
        "faces": _section("faces", "gpu_light", [
            {"t": t, "count": 1, "faces": [{"box": [0.35, 0.2, 0.6, 0.45], "confidence": 0.93,
                                            "expression": "smile"}]}
            for t in (1.5, 2.0, 2.5)], {"screen_time_s": 1.5, "first_seen_s": 1.5}),
        "camera_motion": _section("camera_motion", "gpu_light", [
            {"t": 0.0, "end_t": 3.0, "motion": "static", "magnitude": 0.01},
            {"t": 3.0, "end_t": duration, "motion": "pan_left", "magnitude": 0.4}], {}),
        "caption": _section("caption", "gpu_heavy", [
            {"t": t, "caption": f"a plain coloured screen, shot {i + 1}"}
            for i, t in enumerate((0.0, 1.5, 3.0, 4.5))], {"description": "coloured screens"}),
        "motion": _section("motion", "gpu_light", [
            {"t": s, "end_t": s + 1, "intensity": 0.1 * (i % 3)} for i, s in enumerate(seconds)],
            {"mean_intensity": 0.1}),
    }


@dataclass
class PageLog:
    """What the page said and asked for while it was open."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@contextmanager
def chromium_page(width: int = 1400, height: int = 900) -> Iterator[tuple[Any, PageLog]]:
    """A page in headless Chromium with a fresh profile; console errors, page errors and every
    request are logged. Skips (with the reason) only where Chromium is not installed."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is not installed (Debian package `chromium`; "
                    "`scripts/setup.sh --tests` installs it)")
    from playwright.sync_api import sync_playwright

    log = PageLog()
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        with sync_playwright() as playwright:
            # A persistent context is how Playwright takes --user-data-dir (a fresh one here).
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True,
                viewport={"width": width, "height": height})
            try:
                page = context.new_page()
                page.on("console", lambda m: log.errors.append(m.text)
                        if m.type == "error" else None)
                page.on("pageerror", lambda e: log.errors.append(str(e)))
                page.on("requestfailed", lambda r: log.errors.append(f"failed: {r.url}"))
                page.on("request", lambda r: log.requests.append(r.url))
                yield page, log
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def open_report(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)


def wait_for_video(page: Any) -> float:
    """The player's duration once its metadata loaded (fails if the video does not load)."""
    page.wait_for_function(
        "() => { const v = document.getElementById('player'); return v && v.readyState >= 1 }",
        timeout=30_000)
    return float(page.evaluate("() => document.getElementById('player').duration"))


def click_and_read_time(page: Any, selector: str) -> tuple[float, float]:
    """Click the element (a real mouse click at its centre); the time it stands for and the
    player's position once the seek is done."""
    element = page.locator(selector).first
    wanted = float(element.get_attribute("data-t"))
    element.scroll_into_view_if_needed()
    element.click()
    page.wait_for_function(
        "(t) => { const v = document.getElementById('player');"
        " return Math.abs(v.currentTime - t) < 0.05 && !v.seeking }", arg=wanted,
        timeout=15_000)
    return wanted, float(page.evaluate("() => document.getElementById('player').currentTime"))
