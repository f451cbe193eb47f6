"""Fixtures: synthesized media, and the real Kafka + MinIO stack and services.

The infrastructure fixtures start the project's own stack (``tiktok-analyzer stack up``) once per
session on loopback and stop at the end only what they started. Nothing here is mocked.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from otlp_receiver import OtlpReceiver

from tiktok_analyzer.cli import stack as stack_module
from tiktok_analyzer.cli.sample import make_video
from tiktok_analyzer.cli.services import ServiceSet
from tiktok_analyzer.shared.contracts.topics import Service

REPO = Path(__file__).resolve().parents[1]
# The session's running services, for tests that must pause them (the chaos harness).
ACTIVE_SERVICES: list[ServiceSet] = []
SERVICES = tuple(str(s) for s in Service)


@pytest.fixture(autouse=True)
def keeps_the_process_scheduling() -> Iterator[None]:
    """A test must leave this process's scheduling as it found it: everything started later
    (services, Chromium, encoders) inherits it. SVT-AV1 under root had switched the process
    to SCHED_FIFO 99 (tests/media_corpus.py), and real-time children spinning in the kernel
    then held the machine for many minutes (docs/setup.md)."""
    before = (os.sched_getscheduler(0), os.sched_getparam(0))
    yield
    after = (os.sched_getscheduler(0), os.sched_getparam(0))
    if after != before:
        os.sched_setscheduler(0, *before)
        pytest.fail(f"the test changed this process's scheduling from policy {before[0]} to "
                    f"{after[0]} (priority {after[1].sched_priority}); restored")


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def red_clip(media_dir: Path) -> Path:
    """6 s, 360x640, solid (220, 30, 30), click track at 100 BPM."""
    return make_video(media_dir / "red-100bpm.mp4", duration_s=6.0, color=(220, 30, 30), bpm=100)


@pytest.fixture
def empty_model_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    store = tmp_path / "models"
    store.mkdir()
    monkeypatch.setenv("TIKTOK_MODEL_STORE", str(store))
    return store


@pytest.fixture(scope="session")
def stack() -> Iterator[stack_module.StackPaths]:
    paths = stack_module.StackPaths(cache=REPO / ".cache" / "infra",
                                    state=REPO / ".cache" / f"stack{stack_module.netns_suffix()}")
    already = all(stack_module.status(paths).values())
    stack_module.up(paths)
    yield paths
    if not already:
        stack_module.down(paths, wipe=True)


@pytest.fixture(scope="session")
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """Where the session's services send their traces (tests/test_telemetry_kafka.py)."""
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def services(stack: stack_module.StackPaths, tmp_path_factory: pytest.TempPathFactory,
             otlp_receiver: OtlpReceiver) -> Iterator[ServiceSet]:
    # An empty model store: objects must report `skipped` with the pull command.
    store = tmp_path_factory.mktemp("service-models")
    env = {"TIKTOK_MODEL_STORE": str(store),
           # Observability: the services export traces to the session's OTLP receiver, in
           # batches every 200 ms. Only these processes get the endpoint; nothing else in the
           # suite exports. (/metrics and /healthz/* are on topics.SERVICES' ports, 9101..9106.)
           "OTEL_TRACES_EXPORTER": "otlp",
           "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.endpoint,
           "OTEL_BSP_SCHEDULE_DELAY": "200"}
    with ServiceSet(SERVICES, log_dir=stack.state / "services", env=env) as running:
        running.wait_ready()
        ACTIVE_SERVICES.append(running)
        yield running
        ACTIVE_SERVICES.remove(running)


@pytest.fixture
def video_factory(media_dir: Path) -> Callable[..., Path]:
    counter = iter(range(10_000))

    def make(**kwargs: object) -> Path:
        return make_video(media_dir / f"clip-{next(counter)}.mp4", **kwargs)  # type: ignore[arg-type]

    return make


def pytest_itemcollected(item: pytest.Item) -> None:
    """Every test of the real infrastructure is marked ``infra``: ``scripts/test.sh`` runs
    ``-m infra`` and ``-m "not infra"`` as two pytest processes side by side (the
    infrastructure tier mostly waits on Kafka, MinIO and its services, the other mostly
    computes). Marked as each item is collected, before ``-m`` selects."""
    fixtures = set(getattr(item, "fixturenames", ()))
    if item.get_closest_marker("infra") or fixtures & {"stack", "services"}:
        item.add_marker(pytest.mark.infra)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The chaos run first: it runs six services of its own and would otherwise stop the
    session's six and start them again afterwards (12 service starts, about a minute of CPU)."""
    items.sort(key=lambda item: item.path.name != "test_chaos.py")
