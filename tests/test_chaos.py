"""The fault-injection harness at CI scale: 5 videos, every service SIGKILLed once at a random
point. The full run (20 videos, 3 kills per service) is recorded in docs/reliability.md."""

from __future__ import annotations

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
         "--kills-per-service", "1", "--timeout", "300", "--log-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=900, check=False)
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert last.startswith("videos=5 reports=5 lost=0 duplicates=0 "), (
        f"{last}\n{done.stderr[-3000:]}")
    assert done.returncode == 0
