"""The HTML report in a real browser (headless Chromium from the Debian package): the page of a
synthesized clip analysed by `tiktok-analyzer analyze`, with sections built from the analyzers'
record types where the analyzer cannot run here, and the pages of a rejected and a partial
report. No console errors, every section there, images loaded, and clicks seek the player."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from html_report_helpers import (
    SHOT_COLORS,
    SHOT_S,
    chromium_page,
    click_and_read_time,
    make_shots_video,
    open_report,
    sections_that_cannot_run_here,
    wait_for_video,
)

from tiktok_analyzer.cli.main import EXIT_OK, EXIT_REJECTED

CLI = [sys.executable, "-m", "tiktok_analyzer.cli.main"]
TIMELINE_KINDS = ("shots", "text", "faces", "objects", "speech", "words", "beats",
                  "audio_events", "camera_motion")
CHARTS = ("chart-motion", "chart-loudness", "chart-cuts")
SCREENSHOT_ENV = "HTML_REPORT_SCREENSHOT"
"""Set to a path to keep the sample page's screenshot (the one in docs/img is made so)."""


def run_cli(*args: str, store: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TIKTOK_MODEL_STORE": str(store)}
    env.pop("DISPLAY", None)  # `view` must not try to open a browser in a test
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """`analyze` on a four-shot clip with an empty model store: (report JSON, clip)."""
    root = tmp_path_factory.mktemp("html-report")
    store = root / "models"
    store.mkdir()
    clip = make_shots_video(root / "four-shots.mp4")
    result = run_cli("analyze", str(clip), "--out", str(root / "out"), "--quiet", store=store)
    assert result.returncode == EXIT_OK, result.stderr
    (report,) = (root / "out").glob("*.report.json")
    return report, clip


@pytest.fixture(scope="module")
def sample_page(analyzed: tuple[Path, Path]) -> Path:
    """The analysed report with every kind of section, rebuilt by `view --video`."""
    report_path, clip = analyzed
    doc = json.loads(report_path.read_text())
    duration = doc["media"]["duration_s"]
    for key, section in sections_that_cannot_run_here(duration).items():
        if doc["analyzers"].get(key, {}).get("status") != "ok":  # keep what really ran
            doc["analyzers"][key] = section
    target = report_path.parent / "sample" / report_path.name
    target.parent.mkdir()
    target.write_text(json.dumps(doc))
    result = run_cli("view", str(target), "--video", str(clip), store=report_path.parent)
    assert result.returncode == EXIT_OK, result.stderr
    page = Path(result.stdout.strip())
    assert page == target.with_name(target.name.replace(".json", ".html"))
    return page


def test_analyze_writes_the_page_next_to_the_json(analyzed: tuple[Path, Path]) -> None:
    report_path, _ = analyzed
    page = report_path.with_name(report_path.name.replace(".json", ".html"))
    html = page.read_text()
    doc = json.loads(report_path.read_text())
    assert doc["video_id"] in html
    assert html.count('src="data:image/jpeg;base64,') == len(SHOT_COLORS)  # a keyframe a shot
    assert 'src="../four-shots.mp4"' in html  # the player, relative to the page


def page_state(page: Any) -> dict[str, Any]:
    return page.evaluate("""() => ({
        sections: [...document.querySelectorAll('header, section, #player-area')].map(s => s.id),
        analyzers: [...document.querySelectorAll('#analyzers tbody tr')].map(r => r.id),
        details: [...document.querySelectorAll('details.section')].map(d => d.id),
        rows: Object.fromEntries([...document.querySelectorAll('#timeline .row')]
            .map(r => [r.dataset.kind, Number(r.dataset.items)])),
        images: [...document.querySelectorAll('#keyframes img')]
            .map(i => i.complete && i.naturalWidth > 0),
        shots: document.querySelectorAll('#keyframes figure.shot').length,
        boxes: [...document.querySelectorAll('#keyframes figure.shot')]
            .map(f => [...f.querySelectorAll('.box')].map(b => b.className)),
        charts: window.reportCharts.map(c => c.canvas.closest('figure').id),
        transcript: document.querySelectorAll('#transcript .word').length,
        swatches: document.querySelectorAll('#metric-dominant_colors .swatch').length,
    })""")


def test_sample_report_in_chromium(sample_page: Path, analyzed: tuple[Path, Path],
                                   tmp_path: Path) -> None:
    doc = json.loads(analyzed[0].read_text())
    with chromium_page() as (page, log):
        open_report(page, sample_page.as_uri())
        assert wait_for_video(page) == pytest.approx(len(SHOT_COLORS) * SHOT_S, abs=0.1)
        state = page_state(page)

        assert {"header", "analyzers", "headline", "keyframes", "timeline", "charts",
                "transcript", "sections", "player-area"} <= set(state["sections"])
        keys = set(doc["analyzers"]) | set(sections_that_cannot_run_here(6.0))
        assert set(state["analyzers"]) == {f"analyzer-{k}" for k in keys}
        assert set(state["details"]) == {f"section-{k}" for k in keys}
        for kind in TIMELINE_KINDS:
            assert state["rows"].get(kind, 0) > 0, (kind, state["rows"])
        assert state["rows"]["shots"] == len(SHOT_COLORS)
        assert state["shots"] == len(SHOT_COLORS)
        assert state["images"] == [True] * len(SHOT_COLORS)
        # Objects and text on the first keyframe, the face on the second.
        assert sorted(state["boxes"][0]) == ["box box-objects", "box box-objects", "box box-ocr"]
        assert "box box-faces" in state["boxes"][1]
        assert set(CHARTS) <= set(state["charts"])
        assert state["transcript"] == 4
        assert state["swatches"] == 3

        # Hovering an item shows its values.
        page.locator("#row-words .item").first.hover()
        assert "welcome" not in page.locator("#tip").inner_text()
        assert "hello" in page.locator("#tip").inner_text()
        assert "probability" in page.locator("#tip").inner_text()
        # A click on a timeline row, on a keyframe and on a transcript word seeks the player.
        wanted, now = click_and_read_time(page, "#row-shots .item >> nth=2")
        assert wanted == pytest.approx(2 * SHOT_S, abs=0.05)
        assert now == pytest.approx(wanted, abs=0.05)
        wanted, now = click_and_read_time(page, "#keyframes figure.shot >> nth=3")
        assert now == pytest.approx(3 * SHOT_S, abs=0.05)
        wanted, now = click_and_read_time(page, "#row-camera_motion .item >> nth=1")
        assert now == pytest.approx(wanted, abs=0.05) and wanted > 0
        wanted, now = click_and_read_time(page, "#transcript .word >> nth=2")
        assert now == pytest.approx(1.8, abs=0.05)

        screenshot = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "report.png")
        page.screenshot(path=str(screenshot), full_page=True)
    assert log.errors == []
    # Nothing was fetched but the page itself and the video next to it.
    assert {Path(u.removeprefix("file://")).name for u in log.requests} == {
        sample_page.name, "four-shots.mp4"}


def test_rejected_report_in_chromium(tmp_path: Path) -> None:
    garbage = tmp_path / "clip.mp4"
    garbage.write_bytes(os.urandom(4096))
    store = tmp_path / "models"
    store.mkdir()
    result = run_cli("analyze", str(garbage), "--out", str(tmp_path / "out"), "--quiet",
                     store=store)
    assert result.returncode == EXIT_REJECTED, result.stderr
    (page_path,) = (tmp_path / "out").glob("*.report.html")
    with chromium_page() as (page, log):
        open_report(page, page_path.as_uri())
        assert page.locator("#report-status").inner_text() == "rejected"
        assert "not a recognised media file" in page.locator("#report-reason").inner_text()
        for section in ("analyzers", "headline", "keyframes", "timeline", "transcript",
                        "sections"):
            assert page.locator(f"#{section} h2").count() == 1, section
        assert "No analyzer ran" in page.locator("#analyzers").inner_text()
        # The file is no video: the player gives way to a note saying so.
        page.wait_for_selector("#player-note:not([hidden])", timeout=15_000)
    assert log.errors == []


def test_partial_report_in_chromium(analyzed: tuple[Path, Path], tmp_path: Path) -> None:
    """A partial report (the deadline passed with audio missing), rebuilt without the video:
    the page says what is missing and works without keyframes or a player."""
    doc = json.loads(analyzed[0].read_text())
    for key in [k for k, s in doc["analyzers"].items() if s["group"] == "audio"]:
        del doc["analyzers"][key]
    doc.update(status="partial", missing=["audio_features", "pitch"],
               reason="deadline of 600 s passed before every result arrived")
    target = tmp_path / f"{doc['video_id']}.report.json"
    target.write_text(json.dumps(doc))
    result = run_cli("view", str(target), "--no-open", store=tmp_path)
    assert result.returncode == EXIT_OK, result.stderr
    with chromium_page() as (page, log):
        open_report(page, Path(result.stdout.strip()).as_uri())
        assert page.locator("#report-status").inner_text() == "partial"
        assert "audio_features, pitch" in page.locator("header").inner_text()
        assert page.locator("#keyframes-note").count() == 1
        assert page.locator("#keyframes figure.shot").count() == len(SHOT_COLORS)
        assert page.locator("#player").count() == 0
        assert "not in this report" in page.locator("#row-beats").inner_text()
        # Without a player, a click still marks the time on the timeline.
        page.locator("#row-shots .item >> nth=1").click()
        assert page.evaluate("() => window.lastSeek") == pytest.approx(SHOT_S, abs=0.05)
    assert log.errors == []
