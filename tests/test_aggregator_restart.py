"""Late results after a restart: a partial report written by one aggregator process is
completed (report version 2) by another one, when the missing results arrive within the late
window. The partial report keeps the video's offsets uncommitted until that window closes, so
the next process re-reads the video and holds it again (``Aggregator.resume``)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tiktok_analyzer.aggregator.join import Aggregator
from tiktok_analyzer.cli.services import ServiceSet
from tiktok_analyzer.cli.submit import read_reports
from tiktok_analyzer.shared.contracts.events import (
    AnalyzerRun,
    AnalyzerStatus,
    Group,
    GroupPlan,
    MediaInfo,
    ObjectRef,
    PartialResult,
    SamplingManifest,
    VideoAccepted,
)
from tiktok_analyzer.shared.contracts.report import FinalReport, ReportStatus
from tiktok_analyzer.shared.contracts.topics import AGGREGATOR_IN, SERVICES, Service
from tiktok_analyzer.shared.infra.kafka import make_broker, publish

MEDIA = MediaInfo(container="mp4", duration_s=2.0, size_bytes=10)


def events(video_id: str) -> tuple[list[object], PartialResult]:
    """A video whose gpu_light group answers and whose audio group does not (yet): the
    events the aggregator sees before its deadline, and the late audio result."""
    ref = ObjectRef(bucket="uploads", key=f"{video_id}.mp4", etag="x")
    accepted = VideoAccepted(video_id=video_id, source=ref, media=MEDIA)
    manifest = SamplingManifest(video_id=video_id, source=ref, media=MEDIA, decode_s=0.1, groups={
        Group.GPU_LIGHT: GroupPlan(batches=1, analyzers=["color"]),
        Group.AUDIO: GroupPlan(batches=1, analyzers=["audio_features"]),
    })
    color = PartialResult(video_id=video_id, group=Group.GPU_LIGHT, batch_index=0, runs=[
        AnalyzerRun(analyzer="color", version="1", status=AnalyzerStatus.FAILED, elapsed_s=0.1,
                    reason="not run in this test")])
    audio = PartialResult(video_id=video_id, group=Group.AUDIO, batch_index=0, runs=[
        AnalyzerRun(analyzer="audio_features", version="1", status=AnalyzerStatus.FAILED,
                    elapsed_s=0.1, reason="not run in this test")])
    return [accepted, manifest, color], audio


def test_a_resumed_video_completes_as_the_next_version() -> None:
    agg = Aggregator(deadline_s=5, late_window_s=60)
    before, late = events("v1")
    agg.resume("v1", version=1, reported_at=100.0, first_seen=90.0)
    for event in before:
        assert agg.handle(event, now=101.0) == []  # type: ignore[arg-type]
    assert agg.expire(now=102.0) == []  # its partial report is out already
    (report,) = agg.handle(late, now=103.0)
    assert (report.status, report.report_version) == (ReportStatus.COMPLETE, 2)
    assert agg.expire(now=200.0) == [] and "v1" not in agg.videos


async def _publish(items: list[object]) -> None:
    broker = make_broker()
    await broker.connect()
    try:
        for item in items:
            await publish(broker, item, AGGREGATOR_IN)
    finally:
        await broker.stop()


def _wait_assigned(timeout: float = 60.0) -> None:
    """Until the aggregator holds its partitions (readiness): the deadline counts from the
    messages' timestamps, so they must not wait out a rebalance in the topic."""
    port = SERVICES[Service.AGGREGATOR].obs_port
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"the aggregator was not ready in {timeout:.0f} s")


def _wait_for(video_id: str, version: int, timeout: float) -> list[FinalReport]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = asyncio.run(read_reports({video_id}, timeout=5))[video_id]
        if any(r.report_version >= version for r in found):
            return found
    raise AssertionError(f"no report v{version} for {video_id} in {timeout:.0f} s")


@pytest.mark.infra
def test_late_results_complete_a_partial_report_after_a_restart(
        services: ServiceSet, tmp_path: Path) -> None:
    video_id = f"late-{uuid.uuid4().hex[:12]}"
    before, late = events(video_id)
    # Aggregators with a short deadline stand in for the suite's one, in its consumer group.
    short = {**services.env, "TIKTOK_AGGREGATOR_DEADLINE_S": "3",
             "TIKTOK_AGGREGATOR_CHECK_INTERVAL_S": "0.5"}
    services.kill("aggregator")
    try:
        with ServiceSet(["aggregator"], log_dir=tmp_path / "first", env=short) as first:
            first.wait_ready()
            _wait_assigned()
            asyncio.run(_publish(before))
            (partial,) = _wait_for(video_id, 1, timeout=90)
            assert (partial.status, partial.missing) == (ReportStatus.PARTIAL,
                                                         ["audio_features"])
            first.kill("aggregator")  # SIGKILL: nothing committed on the way out
        asyncio.run(_publish([late]))
        with ServiceSet(["aggregator"], log_dir=tmp_path / "second", env=short) as second:
            second.wait_ready()
            reports = _wait_for(video_id, 2, timeout=90)
        assert [(r.report_version, r.status) for r in reports] == [
            (1, ReportStatus.PARTIAL), (2, ReportStatus.COMPLETE)]
    finally:
        services.restart(["aggregator"])
