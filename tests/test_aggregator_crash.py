"""SIGKILL the aggregator in the middle of work and again after it: each video still has
exactly one report on the topic (read as a consumer reads it), none lost, none doubled."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tiktok_analyzer.cli.services import ServiceSet
from tiktok_analyzer.cli.submit import read_reports, upload
from tiktok_analyzer.ingest.identity import video_id_for_file

pytestmark = pytest.mark.infra


def restart(services: ServiceSet, name: str) -> None:
    services.kill(name)  # SIGKILL: no shutdown hook runs, nothing is committed on the way out
    services.start(name)


def test_killing_the_aggregator_loses_and_doubles_no_report(
        services: ServiceSet, video_factory: Callable[..., Path]) -> None:
    clips = [video_factory(duration_s=3.0, width=180, height=320, bpm=110,
                           color=tuple(random.randrange(40, 216) for _ in range(3)))
             for _ in range(4)]
    ids = {video_id_for_file(c) for c in clips}
    for clip in clips:
        upload(clip, key=f"crash/{uuid.uuid4().hex[:8]}.mp4")
    time.sleep(2.0)  # partial results are arriving: kill in the middle of the join
    restart(services, "aggregator")
    found = asyncio.run(read_reports(ids, timeout=180, settle_s=8))
    counts = {v: len(r) for v, r in found.items()}
    assert all(n == 1 for n in counts.values()), counts
    assert all(r[0].status == "complete" for r in found.values())

    restart(services, "aggregator")  # after everything was reported: the replay adds nothing
    time.sleep(8.0)
    again = asyncio.run(read_reports(ids, timeout=30, settle_s=5))
    assert {v: len(r) for v, r in again.items()} == dict.fromkeys(ids, 1)
