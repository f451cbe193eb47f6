"""Downstream at a glance, through the real pipeline: every event carries the CloudEvents Kafka
binding's headers, and `tiktok-analyzer follow` prints one line per report, routing and
deduplicating on those headers."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tiktok_analyzer.cli.follow import REPORT_TYPE, follow
from tiktok_analyzer.cli.services import ServiceSet
from tiktok_analyzer.cli.submit import read_reports, upload
from tiktok_analyzer.ingest.identity import video_id_for_file
from tiktok_analyzer.shared.contracts.topics import AGGREGATOR_IN
from tiktok_analyzer.shared.infra import cloudevents
from tiktok_analyzer.shared.settings import KafkaSettings

pytestmark = pytest.mark.infra


async def headers_on(topic: str, video_id: str) -> list[dict[str, str]]:
    """The CloudEvents attributes of every message about ``video_id`` on ``topic``."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=KafkaSettings().bootstrap_servers,
                                group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    found: list[dict[str, str]] = []
    try:
        for _ in range(20):
            batches = await consumer.getmany(timeout_ms=500)
            if not batches and found:
                break
            for records in batches.values():
                found += [cloudevents.parse(r.headers) for r in records
                          if r.key == video_id.encode()]
    finally:
        await consumer.stop()
    return found


def test_reports_carry_cloudevents_headers_and_follow_prints_them(
        services: ServiceSet, video_factory: Callable[..., Path]) -> None:
    clip = video_factory(duration_s=3.0, color=(30, 160, 90), bpm=110)
    video_id = video_id_for_file(clip)
    upload(clip, key=f"{uuid.uuid4().hex[:8]}/{clip.name}")
    (report,) = asyncio.run(read_reports({video_id}, timeout=180))[video_id]

    printed: list[str] = []
    asyncio.run(follow(from_beginning=True, as_json=True, idle_timeout_s=5,
                       out=printed.append))
    mine = [json.loads(line) for line in printed
            if json.loads(line)["report"]["video_id"] == video_id]
    assert len(mine) == 1, "one line per report version, replays deduplicated by ce_id"
    attributes = mine[0]["cloudevent"]
    assert attributes["specversion"] == "1.0"
    assert attributes["type"] == REPORT_TYPE
    assert attributes["subject"] == video_id
    assert attributes["id"] == f"{video_id}/report.final/report_version={report.report_version}"
    assert attributes["source"] == "/tiktok-analyzer/aggregator"
    assert attributes["time"].endswith("Z")

    # Every hop, not only the report: the aggregator's inputs carry them too.
    partials = asyncio.run(headers_on(AGGREGATOR_IN.name, video_id))
    types = {h["type"] for h in partials}
    assert {"tiktok_analyzer.video.accepted.v1", "tiktok_analyzer.sampling.manifest.v1",
            "tiktok_analyzer.result.partial.v1"} <= types
    assert all(h["specversion"] == "1.0" and h["subject"] == video_id for h in partials)
    ids = [h["id"] for h in partials if h["type"] == "tiktok_analyzer.result.partial.v1"]
    assert len(ids) == len(set(ids)), "each partial result has its own identity"

    # The command itself, as an operator runs it: one human-readable line with the link.
    done = subprocess.run(
        [sys.executable, "-m", "tiktok_analyzer.cli.main", "follow", "--from-beginning",
         "--idle-timeout", "5"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (line,) = [x for x in done.stdout.splitlines() if x.startswith(video_id)]
    assert "complete" in line and "tempo=" in line
    assert line.endswith(f"/v1/videos/{video_id}/report.html")
