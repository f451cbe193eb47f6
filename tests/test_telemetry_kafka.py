"""Traces through the real pipeline: one video, one trace, spans from all six services.

The session's services export OTLP/HTTP to a receiver this test process runs
(``otlp_receiver`` in conftest, ``tests/otlp_receiver.py``)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from conftest import SERVICES
from otlp_receiver import OtlpReceiver, ReceivedSpan

from tiktok_analyzer.cli.services import ServiceSet
from tiktok_analyzer.cli.submit import read_reports, upload
from tiktok_analyzer.ingest.identity import video_id_for_file
from tiktok_analyzer.shared.settings import IngestSettings

pytestmark = pytest.mark.infra


def fresh_clip(video_factory: Callable[..., Path]) -> Path:
    color = tuple(random.randrange(40, 216) for _ in range(3))
    return video_factory(duration_s=3.0, width=180, height=320, color=color, bpm=110)


def traces_of(spans: list[ReceivedSpan], video_id: str) -> set[str]:
    return {s.trace_id for s in spans if s.attributes.get("video.id") == video_id}


def complete_trace(video_id: str) -> Callable[[list[ReceivedSpan]], bool]:
    """The video's trace is in: all six services, the report, and no span whose parent has
    not arrived yet (parents end after their children, so they are exported later)."""

    def check(spans: list[ReceivedSpan]) -> bool:
        for trace_id in traces_of(spans, video_id):
            in_trace = [s for s in spans if s.trace_id == trace_id]
            ids = {s.span_id for s in in_trace}
            if ({s.service for s in in_trace} >= set(SERVICES)
                    and any(s.name == "report" for s in in_trace)
                    and all(not s.parent_span_id or s.parent_span_id in ids
                            for s in in_trace)):
                return True
        return False

    return check


def the_trace(receiver: OtlpReceiver, video_id: str) -> list[ReceivedSpan]:
    spans = receiver.wait_for(complete_trace(video_id), timeout=60)
    traces = traces_of(spans, video_id)
    assert len(traces) == 1, f"want one trace for {video_id}, got {len(traces)}"
    (trace_id,) = traces
    return [s for s in spans if s.trace_id == trace_id]


def test_one_video_is_one_trace_across_all_six_services(
        services: ServiceSet, otlp_receiver: OtlpReceiver,
        video_factory: Callable[..., Path]) -> None:
    clip = fresh_clip(video_factory)
    video_id = video_id_for_file(clip)
    upload(clip, key=f"{uuid.uuid4().hex[:8]}/{clip.name}")
    found = asyncio.run(read_reports({video_id}, timeout=180, settle_s=1))
    assert [r.status for r in found[video_id]] == ["complete"]

    spans = the_trace(otlp_receiver, video_id)
    assert {s.service for s in spans} == set(SERVICES)
    # The trace starts at ingest: a MinIO notification carries no context.
    roots = [s for s in spans if not s.parent_span_id]
    assert [(r.service, r.name) for r in roots] == [("ingest", "tiktok.uploads create")]
    names = {(s.service, s.name) for s in spans}
    # Every Kafka hop: a consumer span in each service for its input topic.
    for service, topic in [("ingest", "tiktok.uploads"),
                           ("frame_sampler", "tiktok.videos.accepted"),
                           ("gpu_heavy", "tiktok.frames.gpu_heavy"),
                           ("gpu_light", "tiktok.frames.gpu_light"),
                           ("audio", "tiktok.audio.chunks"),
                           ("aggregator", "tiktok.results.partial")]:
        assert (service, f"{topic} process") in names, (service, topic)
    # A span per analyzer that ran (objects has no weights here: skipped, no work, no span).
    for service, key in [("gpu_light", "color"), ("gpu_light", "quality"),
                         ("audio", "audio_features")]:
        assert (service, f"analyze {key}") in names, key
    # The report: the aggregator's span under the first message of the video it handled,
    # and the report's publish under it.
    by_id = {s.span_id: s for s in spans}
    (report,) = [s for s in spans if s.name == "report"]
    assert report.service == "aggregator" and report.attributes["video.id"] == video_id
    first = by_id[report.parent_span_id]
    assert (first.service, first.name) == ("aggregator", "tiktok.results.partial process")
    assert any(s.name == "tiktok.reports publish" and by_id.get(s.parent_span_id, s).name in
               ("report", "tiktok.reports create") for s in spans)


def test_an_http_upload_starts_the_trace_the_pipeline_continues(
        services: ServiceSet, otlp_receiver: OtlpReceiver,
        video_factory: Callable[..., Path]) -> None:
    clip = fresh_clip(video_factory)
    settings = IngestSettings()
    with httpx.Client(base_url=f"http://{settings.http_host}:{settings.http_port}",
                      timeout=30) as http:
        answer = http.post("/v1/videos", params={"filename": "traced.mp4"},
                           content=clip.read_bytes())
    assert answer.status_code == 202, answer.text
    video_id = answer.json()["video_id"]
    found = asyncio.run(read_reports({video_id}, timeout=180, settle_s=1))
    assert [r.status for r in found[video_id]] == ["complete"]

    spans = the_trace(otlp_receiver, video_id)
    assert {s.service for s in spans} == set(SERVICES)
    roots = [s for s in spans if not s.parent_span_id]
    assert [(r.service, r.name) for r in roots] == [("ingest", "upload")]
    # ingest's handling of the notification continues the upload's trace and links to the
    # notification's own span (a trace of its own, with nothing else in it).
    (handling,) = [s for s in spans if s.name == "ingest"]
    assert handling.parent_span_id == roots[0].span_id
    assert handling.links and all(link[0] != handling.trace_id for link in handling.links)
