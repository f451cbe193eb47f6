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
    """Under pytest-xdist (``scripts/test.sh`` runs two workers), every test of the real
    infrastructure goes to one worker: they share one Kafka, one MinIO and one set of services
    on fixed ports, started once. The other worker meanwhile runs the in-process tests.
    Marked as each item is collected: xdist reads the groups in its own collection hook,
    which may run before any ``pytest_collection_modifyitems`` of this conftest."""
    if item.get_closest_marker("xdist_group"):
        return  # a stack of its own (test_secure_pipeline.py)
    fixtures = set(getattr(item, "fixturenames", ()))
    if item.get_closest_marker("infra") or fixtures & {"stack", "services"}:
        item.add_marker(pytest.mark.xdist_group("infra"))
