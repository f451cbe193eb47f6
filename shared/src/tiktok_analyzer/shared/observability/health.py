"""Each service's observability server: ``/metrics``, ``/healthz/live``, ``/healthz/ready``.

A small ``http.server`` on a thread of its own (port ``ObservabilitySettings.port_for``,
9101..9106), so that liveness and metrics answer even while the event loop is busy loading
models, and never depend on Kafka.

- ``/healthz/live``: 200 while the process runs.
- ``/healthz/ready``: the service's readiness checks, run on its event loop (each a coroutine
  answering ``None`` when fine or why not); 200 when all pass, else 503. The body has the
  shape of the ingest API's readiness answer: ``{"status": "ok"|"unavailable", "checks": {}}``.
- ``/metrics``: the Prometheus registry (text format, or OpenMetrics when asked for).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[str | None]]
"""A readiness check: ``None`` when fine, else why not."""

LIVE, READY, METRICS = "/healthz/live", "/healthz/ready", "/metrics"


async def run_checks(checks: Mapping[str, Check], timeout_s: float = 5.0
                     ) -> dict[str, str | None]:
    """Every check, concurrently, each bounded by ``timeout_s``; a check that raises fails
    with its message."""

    async def one(check: Check) -> str | None:
        try:
            async with asyncio.timeout(timeout_s):
                return await check()
        except TimeoutError:
            return f"no answer within {timeout_s:g} s"
        except Exception as exc:
            return f"check failed: {type(exc).__name__}: {exc}"

    results = await asyncio.gather(*(one(c) for c in checks.values()))
    return dict(zip(checks, results, strict=True))


class ObservabilityServer:
    def __init__(self, host: str, port: int, checks: Mapping[str, Check],
                 loop: asyncio.AbstractEventLoop,
                 registry: CollectorRegistry = REGISTRY) -> None:
        self.host, self.port = host, port
        self.checks = checks
        self.loop = loop
        self.registry = registry
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def readiness(self, timeout_s: float = 6.0) -> tuple[int, dict[str, Any]]:
        """Status code and body of ``/healthz/ready`` (called on the server's thread)."""
        if self.loop.is_closed():
            checks: dict[str, str | None] = {"loop": "the service is stopping"}
        else:
            future = asyncio.run_coroutine_threadsafe(run_checks(self.checks), self.loop)
            try:
                checks = future.result(timeout=timeout_s)
            except Exception as exc:
                future.cancel()
                checks = {"loop": f"the event loop did not answer: {type(exc).__name__}"}
        ok = all(v is None for v in checks.values())
        return (200 if ok else 503), {"status": "ok" if ok else "unavailable",
                                      "checks": checks}

    def start(self) -> bool:
        """Listen and serve on a daemon thread; False (with a warning) if the port is taken,
        e.g. by another copy of the same service on this host."""
        server_ref = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == METRICS:
                    encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
                    self._send(200, encoder(server_ref.registry), content_type)
                elif path == LIVE:
                    self._json(200, {"status": "ok"})
                elif path == READY:
                    self._json(*server_ref.readiness())
                else:
                    self._json(404, {"error": "not_found",
                                     "message": f"try {METRICS}, {LIVE} or {READY}"})

            def _json(self, status: int, body: dict[str, Any]) -> None:
                self._send(status, json.dumps(body).encode(), "application/json")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # scrapes and probes every few seconds would drown the service's log

        try:
            self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        except OSError as exc:
            log.warning("observability server not started: cannot listen on %s:%d: %s",
                        self.host, self.port, exc)
            return False
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]  # the one bound, if 0 was asked for
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="observability-http", daemon=True)
        self._thread.start()
        log.info("metrics and health on http://%s:%d (%s, %s, %s)", self.host, self.port,
                 METRICS, LIVE, READY)
        return True

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
