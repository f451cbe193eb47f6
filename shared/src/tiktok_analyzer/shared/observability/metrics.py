"""Prometheus metrics of the services, served on ``/metrics`` (``health.ObservabilityServer``).

Messages in and out per topic and handler latency come from FastStream's own
``KafkaPrometheusMiddleware`` (``faststream_*`` metrics, ``app_name`` = the service, ``handler``
= the topic consumed, ``destination`` = the topic published to), added to every service broker
by ``kafka.make_broker``. The aggregator consumes with aiokafka by hand, so it feeds the same
FastStream metrics itself through FastStream's ``MetricsManager`` (``faststream_manager``):
one set of names for all six services.

Everything FastStream does not measure is hand-written here, each with a ``service`` label
(one process runs one service) and never a video ID as a label:

- per-analyzer inference time and batch sizes: FastStream sees one message, not the
  analyzers run on it (taken from the ``AnalyzerRun`` objects of each partial result);
- sampler frames: FastStream does not decode video;
- consumer lag per partition: FastStream exposes no consumer position (read from each
  consumer's own position and highwater, ``lag_loop``);
- dead letters by error kind and reports by status: facts of this pipeline, not of Kafka;
- GPU memory and utilisation: not a messaging matter (``GpuCollector``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

_service = "unknown"


def set_service(service: str) -> None:
    global _service
    _service = service


def service() -> str:
    return _service


# --- hand-written metrics ------------------------------------------------------------------

INFERENCE_SECONDS = Histogram(
    "tiktok_analyzer_inference_seconds",
    "Time one analyzer spent on one batch (status ok, failed or skipped; skipped runs take 0)",
    ["service", "group", "analyzer", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
BATCH_SIZE = Histogram(
    "tiktok_batch_size",
    "Items per batch an analyzer service received: frames for gpu_heavy and gpu_light, "
    "1 per audio chunk",
    ["service", "group"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
SAMPLER_DECODED_FRAMES = Counter(
    "tiktok_sampler_decoded_frames",
    "Video frames the sampler decoded (rate() gives its decode fps)",
    ["service"],
)
SAMPLER_SAMPLED_FRAMES = Counter(
    "tiktok_sampler_sampled_frames",
    "Frames the sampler published for a group (rate() gives its sample fps)",
    ["service", "group"],
)
CONSUMER_LAG = Gauge(
    "tiktok_consumer_lag",
    "Messages between this consumer's position and the partition's high watermark",
    ["service", "group", "topic", "partition"],
)
DEAD_LETTERS = Counter(
    "tiktok_deadletter_messages",
    "Messages parked on the dead-letter topic, by error kind and source topic",
    ["service", "kind", "topic"],
)
REPORTS = Counter(
    "tiktok_reports_published",
    "Final reports published, by status (complete, partial, rejected)",
    ["service", "status"],
)


def record_runs(group: str, runs: Iterable[Any], batch_items: int) -> None:
    """Per-analyzer timings of one batch (``AnalyzerRun`` objects) and the batch's size."""
    BATCH_SIZE.labels(_service, group).observe(batch_items)
    for run in runs:
        INFERENCE_SECONDS.labels(_service, group, run.analyzer, str(run.status)).observe(
            run.elapsed_s)


def dead_lettered(kind: str, topic: str) -> None:
    DEAD_LETTERS.labels(_service, kind, topic).inc()


def report_published(status: str) -> None:
    REPORTS.labels(_service, status).inc()


# --- FastStream's metrics ------------------------------------------------------------------


def faststream_middleware(service: str, registry: CollectorRegistry = REGISTRY) -> Any:
    """FastStream's Prometheus middleware for a service's broker."""
    from faststream.kafka.prometheus import KafkaPrometheusMiddleware

    return KafkaPrometheusMiddleware(registry=registry, app_name=service)


def faststream_manager(service: str, registry: CollectorRegistry = REGISTRY) -> Any:
    """FastStream's metrics manager over the same metrics the middleware feeds, for a consumer
    FastStream does not run (the aggregator's)."""
    from faststream.prometheus.container import MetricsContainer
    from faststream.prometheus.manager import MetricsManager

    container = MetricsContainer(registry, metrics_prefix="faststream", custom_label_names=())
    return MetricsManager(container, app_name=service)


# --- consumer lag ----------------------------------------------------------------------------


LAG_INTERVAL_S = 5.0


async def update_lag(consumers: Iterable[Any], group: str, seen: set[tuple[str, int]]) -> None:
    """Set the lag of every partition assigned to ``consumers`` (aiokafka consumers): the
    partition's high watermark (from the last fetch) minus the consumer's position. Labels of
    partitions no longer assigned are removed; ``seen`` carries them between calls."""
    now: set[tuple[str, int]] = set()
    for consumer in consumers:
        for tp in list(consumer.assignment()):
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue  # nothing fetched yet
            try:
                position = await asyncio.wait_for(consumer.position(tp), 2.0)
            except Exception:  # revoked meanwhile, or the position is being reset
                continue
            CONSUMER_LAG.labels(_service, group, tp.topic, str(tp.partition)).set(
                max(0, highwater - position))
            now.add((tp.topic, tp.partition))
    for topic, partition in seen - now:
        with contextlib.suppress(KeyError):
            CONSUMER_LAG.remove(_service, group, topic, str(partition))
    seen.clear()
    seen.update(now)


async def lag_loop(consumers: Callable[[], Iterable[Any]], group: str,
                   interval_s: float = LAG_INTERVAL_S) -> None:
    """Update the lag gauge every ``interval_s`` until cancelled."""
    seen: set[tuple[str, int]] = set()
    while True:
        try:
            await update_lag([c for c in consumers() if c is not None], group, seen)
        except Exception:
            log.debug("lag update failed", exc_info=True)
        await asyncio.sleep(interval_s)


# --- GPU ---------------------------------------------------------------------------------------


class GpuCollector(Collector):
    """GPU memory and utilisation, read at scrape time; families without samples where there
    is no GPU (no CUDA in torch, no NVIDIA driver for NVML). torch is only asked if this
    process already imported it (an analyzer did), and NVML only if ``pynvml`` imports."""

    def __init__(self) -> None:
        self._nvml: Any = None
        self._nvml_failed = False

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def _families(self) -> list[GaugeMetricFamily]:
        labels = ["service", "device"]
        return [
            GaugeMetricFamily("tiktok_gpu_memory_allocated_bytes",
                              "GPU memory this process holds in tensors (torch)", labels=labels),
            GaugeMetricFamily("tiktok_gpu_memory_used_bytes",
                              "GPU memory in use on the device, all processes (NVML)",
                              labels=labels),
            GaugeMetricFamily("tiktok_gpu_memory_total_bytes", "GPU memory of the device (NVML)",
                              labels=labels),
            GaugeMetricFamily("tiktok_gpu_utilization_ratio",
                              "Fraction of the last sample period the GPU was busy (NVML)",
                              labels=labels),
        ]

    def _pynvml(self) -> Any:
        if self._nvml is None and not self._nvml_failed:
            try:
                import pynvml

                pynvml.nvmlInit()
                self._nvml = pynvml
            except Exception:
                self._nvml_failed = True  # no driver or no library: skip silently from now on
        return self._nvml

    def collect(self) -> Iterator[Metric]:
        allocated, used, total, util = self._families()
        torch = sys.modules.get("torch")
        try:
            if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
                for index in range(torch.cuda.device_count()):
                    allocated.add_metric([_service, f"cuda:{index}"],
                                         float(torch.cuda.memory_allocated(index)))
        except Exception:
            log.debug("torch GPU memory unavailable", exc_info=True)
        nvml = self._pynvml()
        if nvml is not None:
            try:
                for index in range(nvml.nvmlDeviceGetCount()):
                    handle = nvml.nvmlDeviceGetHandleByIndex(index)
                    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                    rates = nvml.nvmlDeviceGetUtilizationRates(handle)
                    device = f"cuda:{index}"
                    used.add_metric([_service, device], float(memory.used))
                    total.add_metric([_service, device], float(memory.total))
                    util.add_metric([_service, device], rates.gpu / 100.0)
            except Exception:
                log.debug("NVML query failed", exc_info=True)
        yield from (allocated, used, total, util)


_gpu_collector: GpuCollector | None = None


def register_gpu(registry: CollectorRegistry = REGISTRY) -> None:
    """Add the GPU gauges to ``registry`` (once per process)."""
    global _gpu_collector
    if _gpu_collector is None:
        _gpu_collector = GpuCollector()
        registry.register(_gpu_collector)
