"""What every service process sets up around its work: logs, traces, metrics and health.

``setup_process`` runs first (before any connection): log format, the service label of the
metrics, the tracer provider. ``Observer`` then runs next to the service on its event loop:
the observability server (``health``) from the start, so that liveness answers while models
load, and the consumer-lag loop (``metrics.lag_loop``). Readiness is false until the service
says it has started (``mark_started``), then it is the service's own checks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from tiktok_analyzer.shared.contracts.topics import SERVICES, Service
from tiktok_analyzer.shared.infra.outage import OUTAGES
from tiktok_analyzer.shared.observability import logs, metrics, telemetry
from tiktok_analyzer.shared.observability.health import Check, ObservabilityServer
from tiktok_analyzer.shared.settings import ObservabilitySettings


def setup_process(service: str) -> ObservabilitySettings:
    settings = ObservabilitySettings()
    logs.configure(service, settings)
    metrics.set_service(service)
    telemetry.setup_tracing(service)
    return settings


class Observer:
    def __init__(self, service: str, checks: Mapping[str, Check],
                 consumers: Callable[[], Iterable[Any]], *, gpu: bool = False,
                 settings: ObservabilitySettings | None = None) -> None:
        self.service = service
        self.settings = settings or ObservabilitySettings()
        self.started = False
        # "dependencies": a MinIO or Kafka outage this process is waiting out (infra.outage).
        self.checks: dict[str, Check] = {"started": self._started,
                                         "dependencies": OUTAGES.check, **checks}
        self.consumers = consumers
        self.gpu = gpu
        self._server: ObservabilityServer | None = None
        self._lag: asyncio.Task[None] | None = None

    async def _started(self) -> str | None:
        return None if self.started else "starting"

    def mark_started(self) -> None:
        self.started = True

    async def start(self) -> None:
        if self.gpu:
            metrics.register_gpu()
        if self.settings.enabled:
            self._server = ObservabilityServer(
                self.settings.host, self.settings.port_for(self.service), self.checks,
                asyncio.get_running_loop())
            self._server.start()
        self._lag = asyncio.create_task(
            metrics.lag_loop(self.consumers, SERVICES[Service(self.service)].consumer_group),
            name="lag")

    async def stop(self) -> None:
        self.started = False
        if self._lag is not None:
            self._lag.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lag
        if self._server is not None:
            await asyncio.to_thread(self._server.stop)
        telemetry.shutdown()
