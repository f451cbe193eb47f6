"""Observability without the stack: the dashboard cannot drift from the code's metrics, the
Prometheus and Grafana files agree with the services, tracing is off unless configured, trace
context crosses FastStream hops (worker threads included), logs are JSON with the trace and
video, and the observability server answers its three paths."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel

from tiktok_analyzer.shared.contracts.topics import SERVICES, Topic
from tiktok_analyzer.shared.infra.kafka import MessageScope, make_broker, publish
from tiktok_analyzer.shared.observability import logs, metrics, telemetry
from tiktok_analyzer.shared.observability.health import ObservabilityServer

REPO = Path(__file__).resolve().parents[1]
OBS = REPO / "observability"
DASHBOARD = OBS / "grafana" / "dashboards" / "tiktok-analyzer.json"
OTEL_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
             "OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED")


def sample_names(registry: CollectorRegistry = REGISTRY) -> set[str]:
    """Every sample name the registry's metrics can expose (``_total``, ``_bucket``, ...),
    whether or not a sample exists yet: what a dashboard expression may refer to."""
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count",
                                                                 "_created"),
                "summary": ("", "_sum", "_count", "_created"), "info": ("_info",),
                "gaugehistogram": ("_bucket", "_gsum", "_gcount")}
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + s for s in suffixes.get(family.type, ("",)))
    return names



# --- the dashboard and its metrics -------------------------------------------------------------


def _expressions(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                found.append(value)
            else:
                found.extend(_expressions(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_expressions(value))
    return found


def test_every_metric_in_the_dashboard_exists_in_the_code() -> None:
    make_broker(service="ingest")  # registers FastStream's metrics, as every service does
    metrics.register_gpu()
    known = sample_names()
    exprs = _expressions(json.loads(DASHBOARD.read_text()))
    assert len(exprs) >= 15
    missing = []
    for expr in exprs:
        names = re.findall(r"\b(?:tiktok|faststream)_[A-Za-z0-9_]+", expr)
        assert names, f"an expression with none of our metrics: {expr}"
        missing += [n for n in names if n not in known]
    assert not missing, f"dashboard metrics the code does not define: {sorted(set(missing))}"


def test_the_dashboard_covers_what_operators_watch() -> None:
    text = DASHBOARD.read_text()
    for name in ("tiktok_consumer_lag", "faststream_received_messages_total",
                 "faststream_published_messages_total",
                 "faststream_received_processed_messages_duration_seconds_bucket",
                 "tiktok_analyzer_inference_seconds_bucket", "tiktok_batch_size",
                 "tiktok_sampler_decoded_frames_total", "tiktok_deadletter_messages_total",
                 "tiktok_reports_published_total", "tiktok_gpu_memory_used_bytes",
                 "tiktok_gpu_utilization_ratio"):
        assert name in text, name


def test_no_metric_has_a_video_label() -> None:
    make_broker(service="ingest")
    for family in metrics.REGISTRY.collect():
        for sample in family.samples:
            assert not {"video_id", "video"} & set(sample.labels), family.name


def test_prometheus_scrapes_the_six_services_on_their_ports() -> None:
    config = yaml.safe_load((OBS / "prometheus.yml").read_text())
    targets = {job["job_name"]: [t for c in job["static_configs"] for t in c["targets"]]
               for job in config["scrape_configs"]}
    assert targets == {str(name): [f"{name}:{spec.obs_port}"] for name, spec in SERVICES.items()}


def test_grafana_provisioning_matches_the_dashboard() -> None:
    sources = yaml.safe_load(
        (OBS / "grafana/provisioning/datasources/prometheus.yml").read_text())["datasources"]
    uids = {s["uid"] for s in sources}
    dashboard = json.loads(DASHBOARD.read_text())
    used = {p["datasource"]["uid"] for p in dashboard["panels"] if "datasource" in p}
    assert used and used <= uids
    providers = yaml.safe_load(
        (OBS / "grafana/provisioning/dashboards/tiktok-analyzer.yml").read_text())["providers"]
    assert providers[0]["options"]["path"]


# --- tracing configuration ----------------------------------------------------------------


@pytest.mark.parametrize(("env", "on"), [
    ({}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, False),
    ({"OTEL_TRACES_EXPORTER": "console"}, True),
    ({"OTEL_TRACES_EXPORTER": "otlp"}, False),
])
def test_tracing_is_on_only_where_spans_have_somewhere_to_go(env: dict[str, str],
                                                             on: bool) -> None:
    assert telemetry.tracing_configured(env) is on


def test_without_an_endpoint_nothing_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTEL_VARS:
        monkeypatch.delenv(name, raising=False)
    assert telemetry.setup_tracing("ingest") is False
    assert not telemetry.enabled()
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)
    broker = make_broker(service="ingest")
    assert not any(isinstance(m, KafkaTelemetryMiddleware) for m in broker.middlewares)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    broker = make_broker(service="ingest")
    assert any(isinstance(m, KafkaTelemetryMiddleware) for m in broker.middlewares)


# --- trace context across FastStream hops -------------------------------------------------------


class _Event(BaseModel):
    video_id: str
    kind: str = "test.event"


def test_publishes_in_a_handler_and_its_worker_threads_continue_the_trace() -> None:
    asyncio.run(_publishes_continue_the_trace())


async def _publishes_continue_the_trace() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    broker = KafkaBroker(middlewares=[MessageScope,
                                      KafkaTelemetryMiddleware(tracer_provider=provider)])
    received: dict[str, str | None] = {}

    @broker.subscriber("obs-in", group_id="obs-test")
    async def first(msg: KafkaMessage) -> None:
        loop = asyncio.get_running_loop()
        await publish(broker, _Event(video_id="v1"), Topic("obs-direct", 1, ""))

        def in_a_thread() -> None:  # as the sampler publishes while it decodes
            asyncio.run_coroutine_threadsafe(
                publish(broker, _Event(video_id="v1"), Topic("obs-thread", 1, "")), loop
            ).result()

        await asyncio.to_thread(in_a_thread)

    @broker.subscriber("obs-direct", group_id="obs-test")
    async def direct(msg: KafkaMessage) -> None:
        received["obs-direct"] = msg.headers.get("traceparent")

    @broker.subscriber("obs-thread", group_id="obs-test")
    async def threaded(msg: KafkaMessage) -> None:
        received["obs-thread"] = msg.headers.get("traceparent")

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(b"{}", "obs-in")

    assert received.keys() == {"obs-direct", "obs-thread"}
    assert all(received.values()), received
    spans = exporter.get_finished_spans()
    by_name = {s.name: s for s in spans}
    for name in ("obs-in process", "obs-direct process", "obs-thread process"):
        assert name in by_name, sorted(by_name)
    assert len({s.context.trace_id for s in spans}) == 1, [(s.name, s.context) for s in spans]


# --- logs ---------------------------------------------------------------------------------------


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("tiktok_analyzer.test", logging.INFO, __file__, 1, message, (),
                             None)


def test_json_log_lines_carry_the_trace_and_the_video() -> None:
    formatter = logs.JsonFormatter()
    plain = json.loads(formatter.format(_record("hello")))
    assert {"timestamp", "level", "logger", "message", "service"} <= plain.keys()
    assert "trace_id" not in plain and "video_id" not in plain

    context = trace.SpanContext(trace_id=0x1234, span_id=0x56, is_remote=False,
                                trace_flags=trace.TraceFlags(1))
    token = logs.VIDEO_ID.set("v0123456789abcdef01234567")
    try:
        with trace.use_span(trace.NonRecordingSpan(context)):
            line = json.loads(formatter.format(_record("app started successfully")))
    finally:
        logs.VIDEO_ID.reset(token)
    assert line["trace_id"] == f"{0x1234:032x}" and line["span_id"] == f"{0x56:016x}"
    assert line["video_id"] == "v0123456789abcdef01234567"
    assert line["message"] == "app started successfully"  # what ServiceSet.wait_ready finds


# --- the observability server ---------------------------------------------------------------------


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_the_server_answers_metrics_liveness_and_readiness() -> None:
    asyncio.run(_server_answers())


async def _server_answers() -> None:
    state = {"kafka": "Kafka broker does not answer"}

    async def kafka() -> str | None:
        return state["kafka"] or None

    server = ObservabilityServer("127.0.0.1", 0, {"kafka": kafka},
                                 asyncio.get_running_loop())
    assert server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        metrics.record_runs("gpu_light", [], 8)
        status, body = await asyncio.to_thread(_get, base + "/metrics")
        assert status == 200
        names = {f.name for f in text_string_to_metric_families(body.decode())}
        assert "tiktok_batch_size" in names
        assert (await asyncio.to_thread(_get, base + "/healthz/live"))[0] == 200
        status, body = await asyncio.to_thread(_get, base + "/healthz/ready")
        assert status == 503
        assert json.loads(body)["checks"]["kafka"] == "Kafka broker does not answer"
        state["kafka"] = ""
        status, body = await asyncio.to_thread(_get, base + "/healthz/ready")
        assert status == 200 and json.loads(body) == {"status": "ok",
                                                      "checks": {"kafka": None}}
        assert (await asyncio.to_thread(_get, base + "/nope"))[0] == 404
    finally:
        server.stop()
