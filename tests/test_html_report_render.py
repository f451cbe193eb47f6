"""The HTML report renderer without a browser: keyframes taken at the right moments, pages of
reports from other contract versions, escaping, and the byte ranges ingest serves the video in.
(The page in a real browser: tests/test_html_report_browser.py.)"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path
from typing import Any

import pytest
from html_report_helpers import SHOT_COLORS, SHOT_S, make_shots_video
from PIL import Image

from tiktok_analyzer.ingest.byte_ranges import ByteRange, UnsatisfiableRange, parse_range
from tiktok_analyzer.shared.report_html import (
    KeyframeError,
    build_html,
    extract_keyframes,
    html_path_for,
    render_html,
    shot_starts,
)


def report_doc(duration: float = len(SHOT_COLORS) * SHOT_S, **extra: Any) -> dict[str, Any]:
    """A stored report as JSON, shots every ``SHOT_S`` seconds."""
    cuts = [round(SHOT_S * i, 3) for i in range(1, len(SHOT_COLORS))]
    return {"video_id": "v" + "ab" * 12, "status": "complete", "report_version": 1,
            "source": {"bucket": "uploads", "key": "clip.mp4"},
            "media": {"container": "mp4", "duration_s": duration, "size_bytes": 1000,
                      "width": 360, "height": 640, "fps": 30.0, "rotation_deg": 0,
                      "pixel_aspect": 1.0},
            "timeline": [{"t": t, "analyzer": "sampler", "label": "shot start"} for t in cuts],
            "analyzers": {}, "summary": None, "created_at": "2026-01-01T00:00:00Z", **extra}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_shots_video(tmp_path_factory.mktemp("clip") / "shots.mp4")


def centre_rgb(jpeg: bytes) -> tuple[int, ...]:
    image = Image.open(io.BytesIO(jpeg)).convert("RGB")
    return tuple(image.getpixel((image.width // 2, image.height // 2)))


def test_one_keyframe_per_shot_at_its_start(clip: Path) -> None:
    doc = report_doc()
    assert shot_starts(doc) == [0.0, 1.5, 3.0, 4.5]
    frames = extract_keyframes(clip, doc)
    assert [f.t for f in frames] == [0.0, 1.5, 3.0, 4.5]
    for frame, color in zip(frames, SHOT_COLORS, strict=True):
        # The first frame of each shot, not the last of the one before (JPEG shifts a little).
        assert all(abs(a - b) <= 12 for a, b in zip(centre_rgb(frame.jpeg), color, strict=True))
        assert (frame.width, frame.height) == (202, 360)  # upright, within 360 px


def test_keyframes_follow_the_reported_rotation(clip: Path) -> None:
    doc = report_doc()
    doc["media"]["rotation_deg"] = 90
    (first, *_) = extract_keyframes(clip, doc)
    assert (first.width, first.height) == (360, 202)


def test_page_embeds_the_keyframes_and_degrades_without_the_video(clip: Path,
                                                                  tmp_path: Path) -> None:
    with_video = build_html(report_doc(), video=clip, video_src="shots.mp4")
    images = re.findall(r'src="data:image/jpeg;base64,([^"]+)"', with_video)
    assert len(images) == len(SHOT_COLORS)
    assert centre_rgb(base64.b64decode(images[1]))[1] > 150  # the green shot
    assert '<video id="player"' in with_video and 'src="shots.mp4"' in with_video

    without = build_html(report_doc())
    assert "data:image/jpeg" not in without and '<video id="player"' not in without
    assert "the source video was not available" in without
    assert without.count('class="shot"') == len(SHOT_COLORS)  # the strip, without images

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\0" * 100)
    page = build_html(report_doc(), video=broken)
    assert f"cannot read {broken}" in page and "data:image/jpeg" not in page


def test_a_url_source_never_shows_its_signature() -> None:
    url = "http://127.0.0.1:1/uploads/clip.mp4?X-Amz-Signature=s3cr3t"
    with pytest.raises(KeyframeError) as caught:
        extract_keyframes(url, report_doc())
    assert "s3cr3t" not in str(caught.value)
    assert "s3cr3t" not in build_html(report_doc(), video=url)


def test_text_from_the_report_is_escaped() -> None:
    hostile = "</script><script>alert(1)</script><img src=x onerror=alert(2)>"
    doc = report_doc(upstream={"platform": "tiktok", "platform_video_id": "1",
                               "caption": hostile, "hashtags": []},
                     warnings=[hostile], reason=hostile)
    doc["analyzers"]["transcript"] = {
        "analyzer": "transcript", "group": "audio", "version": "1", "status": "ok",
        "batches": 1, "elapsed_s": 0.1, "summary": {"text": hostile},
        "records": [{"t": 0.5, "end_t": 1.0, "text": hostile,
                     "words": [{"t": 0.5, "end_t": 1.0, "text": hostile, "probability": 1}]}]}
    page = render_html(doc)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert page.count("<script") == 3  # the data block, Chart.js and the page script


def test_any_stored_report_renders(tmp_path: Path) -> None:
    """A report of an older contract (hook inside the summary) with a section no renderer
    knows: the hook is shown, the unknown section gets its table, row and chart."""
    doc = report_doc(summary={"duration_s": 6.0, "shots": 4, "dominant_colors": ["#ff0000"],
                              "hook": {"window_s": 3.0, "cuts": 1, "first_face_s": None},
                              "unavailable": {"hook.first_face_s": "needs analyzer faces"}})
    doc["analyzers"]["segmentation"] = {
        "analyzer": "segmentation", "group": "gpu_heavy", "version": "1", "status": "ok",
        "batches": 1, "elapsed_s": 1.0, "summary": {"indoor": 0.8},
        "records": [{"t": t, "sky": 0.1 * t, "person": 0.5} for t in (0.0, 3.0)]}
    page = render_html(doc)
    assert 'id="hook-cuts"' in page and "needs analyzer faces" in page
    assert 'id="section-segmentation"' in page and 'id="row-section-segmentation"' in page
    assert 'id="chart-section-segmentation"' in page
    assert 'class="swatch" style="background:#ff0000"' in page


def test_page_path_next_to_the_report() -> None:
    assert html_path_for(Path("out/v1.report.json")) == Path("out/v1.report.html")
    assert html_path_for(Path("out/report.json")) == Path("out/report.json.report.html")


@pytest.mark.parametrize(("header", "expected"), [
    (None, None),
    ("bytes=0-", ByteRange(0, 999)),
    ("bytes=100-199", ByteRange(100, 199)),
    ("bytes=900-5000", ByteRange(900, 999)),
    ("bytes=-10", ByteRange(990, 999)),
    ("bytes=0-1,5-6", None),  # several ranges: the whole object
    ("items=0-1", None),
])
def test_byte_ranges(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5-4", "bytes=-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(UnsatisfiableRange):
        parse_range(header, 1000)
