"""Riding out a dependency outage: calls to MinIO and Kafka wait and retry while it is away.

A broker restart or a MinIO restart is not a reason for a service to exit or to burn a
message's retries: every call to them goes through ``retry_call`` / ``retry_async``, which
retries *transient* errors (connection refused, timeouts, 5xx, "not leader") with capped
exponential backoff for as long as the dependency is away, records the outage so that
``/healthz/ready`` says which dependency is missing since when, and clears it on the first
success. Errors that say something about the request itself (no such key, access denied,
a message too large) are raised at once, as before.

Hand-written rather than e.g. tenacity: the retry is ten lines, and what matters here is the
classification of errors and the readiness record, which a retry library would not give.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

MINIO = "minio"
KAFKA = "kafka"
FIRST_DELAY_S = 0.5
MAX_DELAY_S = 15.0

# MinIO answers these while it starts, heals or sheds load; they say nothing about the request.
TRANSIENT_S3_CODES = frozenset({
    "XMinioServerNotInitialized", "ServiceUnavailable", "SlowDown", "InternalError",
    "RequestTimeout", "XMinioStorageFull", "XMinioReadQuorum", "XMinioWriteQuorum",
})


class Outages:
    """The dependencies a process currently cannot reach, for readiness and logs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: dict[str, tuple[float, str]] = {}

    def down(self, dependency: str, error: BaseException) -> bool:
        """Record it; True the first time (so the first failure is logged as a warning)."""
        with self._lock:
            first = dependency not in self._since
            if first:
                self._since[dependency] = (time.monotonic(), f"{type(error).__name__}: {error}")
            return first

    def up(self, dependency: str) -> float | None:
        """Clear it; how long it was away, or None if it was not."""
        with self._lock:
            found = self._since.pop(dependency, None)
        return None if found is None else time.monotonic() - found[0]

    def describe(self) -> str | None:
        with self._lock:
            items = sorted(self._since.items())
        if not items:
            return None
        now = time.monotonic()
        return "; ".join(f"{name} unreachable for {now - since:.0f} s ({error[:160]})"
                         for name, (since, error) in items)

    async def check(self) -> str | None:
        """A readiness check: None while every dependency answers."""
        return self.describe()


OUTAGES = Outages()


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` says the dependency is away rather than that the request is wrong."""
    if isinstance(exc, (ConnectionError, TimeoutError, asyncio.TimeoutError)):
        return True
    if getattr(exc, "retriable", False):  # aiokafka marks its retriable errors so
        return True
    module = type(exc).__module__
    name = type(exc).__name__
    if module.startswith("urllib3") and name in (
            "MaxRetryError", "ProtocolError", "NewConnectionError", "ReadTimeoutError",
            "ConnectTimeoutError"):
        return True
    if module.startswith("aiokafka") and name in (
            "KafkaConnectionError", "KafkaTimeoutError", "NodeNotReadyError",
            "RequestTimedOutError", "NotLeaderForPartitionError", "LeaderNotAvailableError"):
        return True
    if module.startswith("minio"):
        if name == "ServerError":  # minio-py's HTTP 5xx without an S3 error body
            return True
        return getattr(exc, "code", None) in TRANSIENT_S3_CODES
    return False


def _delay(attempt: int) -> float:
    return float(min(MAX_DELAY_S, FIRST_DELAY_S * 2.0 ** attempt))


def _failed(dependency: str, what: str, exc: BaseException, attempt: int) -> float:
    delay = _delay(attempt)
    if OUTAGES.down(dependency, exc):
        log.warning("%s unreachable (%s: %s); retrying %s until it is back",
                    dependency, type(exc).__name__, exc, what)
    elif attempt % 10 == 9:
        log.warning("%s still unreachable after %d tries of %s", dependency, attempt + 1, what)
    return delay


def _recovered(dependency: str) -> None:
    away = OUTAGES.up(dependency)
    if away is not None:
        log.warning("%s reachable again after %.1f s", dependency, away)


def retry_call(dependency: str, what: str, call: Callable[[], T],
               give_up_after_s: float | None = None) -> T:
    """``call()``, retried while it fails with a transient error (blocking: for worker
    threads). ``give_up_after_s`` bounds the wait (None: as long as the outage lasts)."""
    started, attempt = time.monotonic(), 0
    while True:
        try:
            result = call()
        except Exception as exc:
            if not is_transient(exc) or (give_up_after_s is not None
                                         and time.monotonic() - started > give_up_after_s):
                raise
            time.sleep(_failed(dependency, what, exc, attempt))
            attempt += 1
            continue
        _recovered(dependency)
        return result


async def retry_async(dependency: str, what: str, call: Callable[[], Awaitable[T]],
                      give_up_after_s: float | None = None) -> T:
    """The same for a coroutine: ``await call()``, retried on transient errors."""
    started, attempt = time.monotonic(), 0
    while True:
        try:
            result = await call()
        except Exception as exc:
            if not is_transient(exc) or (give_up_after_s is not None
                                         and time.monotonic() - started > give_up_after_s):
                raise
            await asyncio.sleep(_failed(dependency, what, exc, attempt))
            attempt += 1
            continue
        _recovered(dependency)
        return result
