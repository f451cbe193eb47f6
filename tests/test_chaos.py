"""The fault-injection harness at CI scale: 5 videos, every service SIGKILLed once at a random
point, two services killed together once, one broker restart and one MinIO restart. The full
run (20 videos, 3 kills per service, 2 x 3 together, 2 + 2 restarts) is in docs/reliability.md."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ACTIVE_SERVICES

from tiktok_analyzer.cli import stack as stack_module
from tiktok_analyzer.cli.services import ServiceSet

pytestmark = pytest.mark.infra


@pytest.fixture
def no_other_services() -> Iterator[None]:
    """The harness runs its own six services; the session's set (if started) would share
    their consumer groups and take over partitions of the services being killed."""
    paused: list[ServiceSet] = list(ACTIVE_SERVICES)
    for running in paused:
        running.stop()
    yield
    for running in paused:
        running.restart(running.names)


def test_chaos_small_scale(stack: stack_module.StackPaths, no_other_services: None,
                           tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tiktok_analyzer.cli.main", "chaos", "--videos", "5",
         "--kills-per-service", "1", "--kill-together", "2", "--together-rounds", "1",
         "--restart-broker", "1", "--restart-minio", "1", "--timeout", "300",
         # Shorter outages and settling than the full run's (5-20 s, 15 s): the same
         # faults and checks at CI scale.
         "--outage-s", "2", "5", "--settle", "5",
         "--log-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=900, check=False,
        # An empty model store, as the session's services have: the weights a developer
        # pulled (OCR reads a frame in seconds on CPU) must not slow this run down.
        env={**os.environ, "TIKTOK_MODEL_STORE": str(tmp_path / "no-models")})
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert last.startswith("videos=5 reports=5 lost=0 duplicates=0 "), (
        f"{last}\n{done.stderr[-3000:]}")
    assert "faults=kills=1x6,together=1x2,broker_restarts=1,minio_restarts=1" in last
    assert done.returncode == 0
