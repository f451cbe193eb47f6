"""End to end on the real thing: Kafka (KRaft) and MinIO started by the project, the six
services as separate processes, a synthesized video put into the upload bucket, and the final
report read from the report topic."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from report_checks import check_sections_without_weights

from tiktok_analyzer.cli.services import ServiceSet
from tiktok_analyzer.cli.submit import read_reports, upload
from tiktok_analyzer.ingest.identity import video_id_for_file
from tiktok_analyzer.local.pipeline import LocalPipeline
from tiktok_analyzer.shared.infra.blobs import MinioBlobStore
from tiktok_analyzer.shared.settings import StorageSettings

pytestmark = pytest.mark.infra


def submit(path: Path) -> str:
    upload(path, key=f"{uuid.uuid4().hex[:8]}/{path.name}")
    return video_id_for_file(path)


def test_one_complete_report_per_video_with_the_right_answers(
        services: ServiceSet, red_clip: Path, tmp_path: Path, empty_model_store: Path) -> None:
    video_id = submit(red_clip)
    found = asyncio.run(read_reports({video_id}, timeout=180, settle_s=5))
    assert len(found[video_id]) == 1, f"want exactly one report, got {len(found[video_id])}"
    report = found[video_id][0]

    assert report.status == "complete"
    as_json = json.loads(report.model_dump_json())
    check_sections_without_weights(as_json["analyzers"])  # the session's store is empty
    top = as_json["analyzers"]["color"]["summary"]["dominant_colors"][0]
    assert all(abs(a - b) <= 6 for a, b in zip(top["rgb"], (220, 30, 30), strict=True))
    assert report.summary is not None
    assert report.summary.tempo_bpm == pytest.approx(100, rel=0.02)
    assert report.media is not None and report.media.duration_s == pytest.approx(6.0, abs=0.1)

    # The aggregator also stored the report in MinIO.
    stored = MinioBlobStore.from_settings().get(StorageSettings().report_bucket,
                                                f"{video_id}.json")
    assert json.loads(stored)["video_id"] == video_id
    # ... and next to the video, where ingest does not take it for an upload.
    beside = MinioBlobStore.from_settings().get(report.source.bucket,
                                                report.source.key + ".report.json")
    assert json.loads(beside)["video_id"] == video_id

    # The same stage code in one process gives the same analyzer results.
    # (Reasons name each run's own empty model store, so they are left out.)
    local = LocalPipeline(progress=lambda _m: None).analyze(red_clip)

    def without_reason(record: dict) -> dict:
        # `unavailable` quotes skip reasons too: what is unavailable must agree, not why.
        return {k: sorted(v) if k == "unavailable" else v for k, v in record.items()
                if k != "rate_unavailable"}

    mine = json.loads(local.model_dump_json())
    for key, theirs in as_json["analyzers"].items():
        ours = mine["analyzers"][key]
        assert ours["status"] == theirs["status"]
        assert [without_reason(r) for r in ours["records"]] == [
            without_reason(r) for r in theirs["records"]], key
        assert without_reason(ours["summary"]) == without_reason(theirs["summary"]), key


def test_a_bad_upload_gets_exactly_one_rejected_report(services: ServiceSet,
                                                       tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is a text file with a video extension\n")
    video_id = submit(fake)
    found = asyncio.run(read_reports({video_id}, timeout=120, settle_s=3))
    (report,) = found[video_id]
    assert report.status == "rejected"
    assert "not a recognised media file" in (report.reason or "")


def test_several_videos_each_get_one_report(services: ServiceSet,
                                            video_factory: Callable[..., Path]) -> None:
    clips = [video_factory(duration_s=4.0, color=c, bpm=b)
             for c, b in [((30, 40, 210), 90), ((20, 200, 60), 128), ((240, 240, 240), 110)]]
    ids = {submit(clip) for clip in clips}
    found = asyncio.run(read_reports(ids, timeout=240, settle_s=5))
    assert {v: len(r) for v, r in found.items()} == dict.fromkeys(ids, 1)
    assert all(r[0].status == "complete" for r in found.values())
