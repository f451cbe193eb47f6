"""Where the HTML report appears in the streaming system: the aggregator stores it next to the
report in MinIO (keyframes read from the source there), and ingest serves it, with the video
for its player in byte ranges, to a real browser. Real Kafka, MinIO and services."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from pathlib import Path

import httpx
import pytest
from html_report_helpers import (
    SHOT_COLORS,
    SHOT_S,
    chromium_page,
    click_and_read_time,
    make_shots_video,
    open_report,
    wait_for_video,
)
from test_ingest_http import make_api, running

from tiktok_analyzer.cli.services import ServiceSet
from tiktok_analyzer.cli.submit import read_reports, upload
from tiktok_analyzer.ingest.identity import video_id_for_file
from tiktok_analyzer.shared.contracts.events import ObjectRef
from tiktok_analyzer.shared.contracts.report import FinalReport, ReportStatus
from tiktok_analyzer.shared.infra.blobs import MinioBlobStore
from tiktok_analyzer.shared.report_html import stored_page_key
from tiktok_analyzer.shared.settings import StorageSettings

pytestmark = pytest.mark.infra


def wait_for_object(store: MinioBlobStore, bucket: str, key: str, timeout_s: float) -> bytes:
    deadline = time.monotonic() + timeout_s
    while not store.exists(bucket, key):
        assert time.monotonic() < deadline, f"no {bucket}/{key} after {timeout_s} s"
        time.sleep(0.5)
    return store.get(bucket, key)


def test_stored_page_served_by_ingest_plays_in_chromium(services: ServiceSet,
                                                        tmp_path: Path) -> None:
    # A random shade of the first shot's red: a video no earlier run has reported, and still a
    # clear cut to the green second shot (a fully random colour once came out green, so the
    # page had one keyframe fewer).
    red = (random.randrange(180, 250), random.randrange(10, 60), random.randrange(10, 60))
    colors = [red, *SHOT_COLORS[1:]]
    clip = make_shots_video(tmp_path / "shots.mp4", colors=colors)  # type: ignore[arg-type]
    upload(clip, key=f"{uuid.uuid4().hex[:8]}/shots.mp4")
    video_id = video_id_for_file(clip)
    found = asyncio.run(read_reports({video_id}, timeout=180, settle_s=1))
    assert found[video_id] and found[video_id][0].status == "complete"

    store = MinioBlobStore.from_settings()
    bucket = StorageSettings().report_bucket
    page = wait_for_object(store, bucket, stored_page_key(video_id), 60).decode()
    assert page.count('src="data:image/jpeg;base64,') == len(colors)  # read from MinIO
    assert 'src="video"' in page

    with running(make_api(store)) as client:
        r = client.get(f"/v1/videos/{video_id}/report.html")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert r.text == page
        r = client.get(f"/v1/videos/{video_id}/video", headers={"Range": "bytes=0-99"})
        assert r.status_code == 206, r.text
        assert r.headers["content-range"] == f"bytes 0-99/{clip.stat().st_size}"
        assert r.content == clip.read_bytes()[:100]
        assert client.get(f"/v1/videos/{video_id}/video").content == clip.read_bytes()

        url = f"{client.base_url}/v1/videos/{video_id}/report.html"
        with chromium_page() as (browser, log):
            open_report(browser, url)
            assert wait_for_video(browser) == pytest.approx(len(colors) * SHOT_S, abs=0.1)
            assert browser.evaluate("() => [...document.querySelectorAll('#keyframes img')]"
                                    ".every(i => i.complete && i.naturalWidth > 0)")
            _, now = click_and_read_time(browser, "#row-shots .item >> nth=3")
            assert now == pytest.approx(3 * SHOT_S, abs=0.05)
        assert log.errors == []
        assert {httpx.URL(u).path for u in log.requests} == {
            f"/v1/videos/{video_id}/report.html", f"/v1/videos/{video_id}/video"}


def test_a_report_without_a_page_is_rendered_from_its_json(stack: object) -> None:
    store = MinioBlobStore.from_settings()
    video_id = "v" + uuid.uuid4().hex[:24]
    with running(make_api(store)) as client:
        r = client.get(f"/v1/videos/{video_id}/report.html")
        assert r.status_code == 404 and r.json()["error"] == "no_report"
        assert client.get(f"/v1/videos/{video_id}/video").json()["error"] == "no_report"

        report = FinalReport(video_id=video_id, status=ReportStatus.REJECTED,
                             reason="not a recognised media file",
                             source=ObjectRef(bucket="uploads", key=f"api/{video_id}/x.mp4"))
        store.put(StorageSettings().report_bucket, f"{video_id}.json",
                  report.model_dump_json().encode(), "application/json")
        r = client.get(f"/v1/videos/{video_id}/report.html")
        assert r.status_code == 200, r.text
        assert "not a recognised media file" in r.text and video_id in r.text
        r = client.get(f"/v1/videos/{video_id}/video")
        assert r.status_code == 404 and r.json()["error"] == "no_video"
        assert json.loads(client.get(f"/v1/videos/{video_id}/report").content)["status"] == (
            "rejected")
