"""Metrics and health of the running services (the session's six processes), after a video
went through them: each service's observability port answers /metrics, /healthz/live and
/healthz/ready, and the per-analyzer histogram, the sampler's frame counters, lag, reports and
dead letters have moved."""

from __future__ import annotations

import asyncio
import random
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tiktok_analyzer.cli.services import ServiceSet
from tiktok_analyzer.cli.submit import read_reports, upload
from tiktok_analyzer.ingest.identity import video_id_for_file
from tiktok_analyzer.shared.contracts.topics import FRAMES_LIGHT, SERVICES
from tiktok_analyzer.shared.settings import KafkaSettings

OBS_PORTS = {str(s): spec.obs_port for s, spec in SERVICES.items()}

pytestmark = pytest.mark.infra

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def get(service: str, path: str) -> tuple[int, bytes]:
    url = f"http://127.0.0.1:{OBS_PORTS[service]}{path}"
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def scrape(service: str) -> Samples:
    status, body = get(service, "/metrics")
    assert status == 200
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(body.decode())
            for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name`` over the samples whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def fresh_clip(video_factory: Callable[..., Path]) -> Path:
    color = tuple(random.randrange(40, 216) for _ in range(3))
    return video_factory(duration_s=3.0, width=180, height=320, color=color, bpm=100)


def test_every_service_is_live_and_ready(services: ServiceSet) -> None:
    for service in OBS_PORTS:
        assert get(service, "/healthz/live")[0] == 200, service
        status, body = get(service, "/healthz/ready")
        assert status == 200, (service, body)


def test_a_video_moves_the_metrics_of_every_stage(services: ServiceSet,
                                                  video_factory: Callable[..., Path]) -> None:
    before = {service: scrape(service) for service in OBS_PORTS}
    clip = fresh_clip(video_factory)
    video_id = video_id_for_file(clip)
    upload(clip, key=f"{uuid.uuid4().hex[:8]}/{clip.name}")
    found = asyncio.run(read_reports({video_id}, timeout=180, settle_s=1))
    assert [r.status for r in found[video_id]] == ["complete"]
    after = {service: scrape(service) for service in OBS_PORTS}

    def grew(service: str, name: str, **labels: str) -> float:
        return value(after[service], name, **labels) - value(before[service], name, **labels)

    # The per-analyzer inference histogram, with samples for each analyzer that ran.
    for service, analyzer in [("gpu_light", "color"), ("gpu_light", "quality"),
                              ("audio", "audio_features")]:
        assert grew(service, "tiktok_analyzer_inference_seconds_count", analyzer=analyzer,
                    status="ok") >= 1, analyzer
        assert grew(service, "tiktok_analyzer_inference_seconds_bucket", analyzer=analyzer,
                    status="ok", le="+Inf") >= 1, analyzer
    assert grew("gpu_heavy", "tiktok_analyzer_inference_seconds_count", analyzer="objects",
                status="skipped") >= 1  # no weights in the test's model store
    assert grew("gpu_light", "tiktok_batch_size_count", group="gpu_light") >= 1
    # The sampler: frames decoded (3 s at 30 fps) and sampled (2 fps light).
    assert grew("frame_sampler", "tiktok_sampler_decoded_frames_total") >= 60
    assert grew("frame_sampler", "tiktok_sampler_sampled_frames_total", group="gpu_light") >= 5
    # Messages in and out (FastStream's metrics, the aggregator's fed by hand).
    assert grew("ingest", "faststream_received_messages_total",
                handler="tiktok.uploads") >= 1
    assert grew("ingest", "faststream_published_messages_total",
                destination="tiktok.videos.accepted", status="success") >= 1
    assert grew("aggregator", "faststream_received_messages_total",
                handler="tiktok.results.partial") >= 4
    assert grew("aggregator", "faststream_received_processed_messages_duration_seconds_count",
                handler="tiktok.results.partial") >= 4
    assert grew("aggregator", "tiktok_reports_published_total", status="complete") == 1


def test_consumer_lag_is_reported_per_partition(services: ServiceSet) -> None:
    deadline = time.monotonic() + 30
    while True:
        samples = scrape("gpu_light")
        lag = {dict(ls)["partition"]: v for (n, ls), v in samples.items()
               if n == "tiktok_consumer_lag" and dict(ls)["topic"] == FRAMES_LIGHT.name}
        if len(lag) == FRAMES_LIGHT.partitions or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert sorted(lag, key=int) == [str(p) for p in range(FRAMES_LIGHT.partitions)]
    assert all(v >= 0 for v in lag.values())


def test_dead_letters_are_counted_by_error_kind(services: ServiceSet) -> None:
    from aiokafka import AIOKafkaProducer

    labels = {"kind": "invalid_json", "topic": FRAMES_LIGHT.name}
    before = value(scrape("gpu_light"), "tiktok_deadletter_messages_total", **labels)

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=KafkaSettings().bootstrap_servers)
        await producer.start()
        try:
            await producer.send_and_wait(FRAMES_LIGHT.name, b"{not json", key=b"metrics-test")
        finally:
            await producer.stop()

    asyncio.run(send())
    deadline = time.monotonic() + 60
    while value(scrape("gpu_light"), "tiktok_deadletter_messages_total", **labels) < before + 1:
        assert time.monotonic() < deadline, "the dead letter was not counted"
        time.sleep(0.5)
