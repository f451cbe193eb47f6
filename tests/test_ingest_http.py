"""The ingest HTTP API over real HTTP (uvicorn on loopback) against the real MinIO and Kafka.

Uploads here raise real bucket notifications on ``tiktok.uploads``; whichever ingest runs
later in the session processes them, which is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tiktok_analyzer.cli import stack as stack_module
from tiktok_analyzer.ingest.http_api import (
    check_minio,
    combine_checks,
    create_api,
    serve,
)
from tiktok_analyzer.shared.contracts.events import ObjectRef
from tiktok_analyzer.shared.contracts.report import FinalReport, ReportStatus
from tiktok_analyzer.shared.infra.blobs import MinioBlobStore
from tiktok_analyzer.shared.infra.status import Stage, StageRecord, StatusBoard
from tiktok_analyzer.shared.settings import GateSettings, KafkaSettings, StorageSettings

pytestmark = pytest.mark.infra


async def check_kafka(bootstrap_servers: str, timeout_s: float = 3.0,
                      topics: Collection[str] = ()) -> str | None:
    """The test's own Kafka check (ingest's readiness uses the broker's connection): None
    when a Kafka broker answers a metadata request (and ``topics`` all exist), else
    why not. Opens and closes its own admin client."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers,
                                client_id="tiktok-test-readiness",
                                request_timeout_ms=max(1, int(timeout_s * 1000)))
    try:
        async with asyncio.timeout(timeout_s):
            await admin.start()
            present = set(await admin.list_topics())
    except TimeoutError:
        return f"Kafka at {bootstrap_servers} did not answer within {timeout_s:g} s"
    except Exception as exc:
        return f"Kafka at {bootstrap_servers}: {exc}"
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
    missing = sorted(set(topics) - present)
    return f"Kafka: missing topics {', '.join(missing)}" if missing else None



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port() -> int:
    """A loopback port nothing listens on (bound and released again)."""
    return free_port()


@contextmanager
def running(api: FastAPI) -> Iterator[httpx.Client]:
    """``serve`` in a thread with its own event loop; stopped by cancelling its task, as the
    ingest service does at shutdown."""
    port = free_port()
    loop = asyncio.new_event_loop()
    task: asyncio.Task[None] = loop.create_task(serve(api, "127.0.0.1", port, log_level="warning"))

    def run() -> None:
        with suppress(asyncio.CancelledError):
            loop.run_until_complete(task)

    thread = threading.Thread(target=run, name=f"http-api-{port}", daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0) as client:
            deadline = time.monotonic() + 15
            while True:
                try:
                    client.get("/healthz/live")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or not thread.is_alive():
                        raise
                    time.sleep(0.05)
            yield client
    finally:
        loop.call_soon_threadsafe(task.cancel)
        thread.join(15)
        loop.close()
        assert not thread.is_alive(), "the server did not stop when its task was cancelled"


def make_api(store: MinioBlobStore, *, gate: GateSettings | None = None,
             kafka: str | None = None) -> FastAPI:
    storage = StorageSettings()
    readiness = combine_checks({
        "minio": lambda: check_minio(store, storage.upload_bucket),
        "kafka": lambda: check_kafka(kafka or KafkaSettings().bootstrap_servers, timeout_s=2.0),
    })
    return create_api(store, StatusBoard(store, storage.work_bucket), storage,
                      gate or GateSettings(), readiness)


@pytest.fixture(scope="module")
def store(stack: stack_module.StackPaths) -> MinioBlobStore:
    return MinioBlobStore.from_settings()


@pytest.fixture(scope="module")
def client(store: MinioBlobStore) -> Iterator[httpx.Client]:
    with running(make_api(store)) as c:
        yield c


def fresh_clip(video_factory: Callable[..., Path]) -> Path:
    """A clip no earlier run has uploaded (its colour is random), so its video ID is new."""
    color = tuple(random.randrange(40, 216) for _ in range(3))
    return video_factory(duration_s=1.0, width=160, height=288, color=color, bpm=120)


def unknown_video_id() -> str:
    return "v" + uuid.uuid4().hex[:24]


def test_liveness(client: httpx.Client) -> None:
    r = client.get("/healthz/live")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_readiness_with_the_real_stack(client: httpx.Client) -> None:
    r = client.get("/healthz/ready")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ok", "checks": {"minio": None, "kafka": None}}


def test_readiness_fails_when_kafka_is_unreachable(store: MinioBlobStore) -> None:
    with running(make_api(store, kafka=f"127.0.0.1:{closed_port()}")) as c:
        r = c.get("/healthz/ready")
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["minio"] is None
    assert body["checks"]["kafka"], "the failing check must say why"


def test_upload_stores_the_bytes_and_gives_the_content_video_id(
        client: httpx.Client, store: MinioBlobStore, video_factory: Callable[..., Path]) -> None:
    clip = fresh_clip(video_factory)
    data = clip.read_bytes()
    sha = hashlib.sha256(data).hexdigest()

    r = client.post("/v1/videos", params={"filename": "../my clip.mp4"}, content=data,
                    headers={"content-type": "video/mp4"})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["video_id"] == "v" + sha[:24]
    assert body["sha256"] == sha and body["size"] == len(data)
    assert body["already_stored"] is False
    bucket = StorageSettings().upload_bucket
    assert body["object"]["bucket"] == bucket
    assert body["object"]["key"] == f"api/{sha}/my_clip.mp4"
    assert body["status_url"].endswith(f"/v1/videos/{body['video_id']}")
    assert body["report_url"].endswith(f"/v1/videos/{body['video_id']}/report")
    assert r.headers["location"] == body["status_url"]
    assert store.get(bucket, body["object"]["key"]) == data

    # The status URL answers at once: the API records the arrival before storing the file.
    status = client.get(body["status_url"])
    assert status.status_code == 200, status.text
    assert status.json()["video_id"] == body["video_id"]

    again = client.post("/v1/videos", params={"filename": "../my clip.mp4"}, content=data)
    assert again.status_code == 202, again.text
    assert again.json()["video_id"] == body["video_id"]
    assert again.json()["object"]["key"] == body["object"]["key"]
    assert again.json()["already_stored"] is True


def test_upload_streamed_in_chunks(client: httpx.Client, store: MinioBlobStore,
                                   video_factory: Callable[..., Path]) -> None:
    data = fresh_clip(video_factory).read_bytes()

    def chunks() -> Iterator[bytes]:  # no content-length: chunked transfer encoding
        for i in range(0, len(data), 4096):
            yield data[i:i + 4096]

    r = client.post("/v1/videos", params={"filename": "chunked.mp4"}, content=chunks())
    assert r.status_code == 202, r.text
    assert r.json()["size"] == len(data)
    assert store.get(r.json()["object"]["bucket"], r.json()["object"]["key"]) == data


def test_upload_over_the_limit_is_413(store: MinioBlobStore) -> None:
    data = random.randbytes(50_000)
    with running(make_api(store, gate=GateSettings(max_file_bytes=1000))) as c:
        declared = c.post("/v1/videos", params={"filename": "big.mp4"}, content=data)

        def chunks() -> Iterator[bytes]:  # no content-length: caught while streaming
            for i in range(0, len(data), 500):
                yield data[i:i + 500]

        streamed = c.post("/v1/videos", params={"filename": "big.mp4"}, content=chunks())
    for r in (declared, streamed):
        assert r.status_code == 413, r.text
        assert r.json()["error"] == "too_large"
        assert "1000 bytes" in r.json()["message"]
    sha = hashlib.sha256(data).hexdigest()
    assert not store.list_keys(StorageSettings().upload_bucket, f"api/{sha}/")


def test_empty_upload_is_400(client: httpx.Client) -> None:
    r = client.post("/v1/videos", params={"filename": "clip.mp4"}, content=b"")
    assert r.status_code == 400
    assert r.json()["error"] == "empty_body"


@pytest.mark.parametrize("name", ["..", "a/b/", "bad\x00name.mp4", "x" * 300])
def test_bad_filename_is_422(client: httpx.Client, name: str) -> None:
    r = client.post("/v1/videos", params={"filename": name}, content=b"data")
    assert r.status_code == 422, r.text
    assert set(r.json()) == {"error", "message"}


def test_status_unknown_then_recorded(client: httpx.Client, store: MinioBlobStore) -> None:
    video_id = unknown_video_id()
    r = client.get(f"/v1/videos/{video_id}")
    assert r.status_code == 404
    assert r.json()["error"] == "unknown_video"

    board = StatusBoard(store, StorageSettings().work_bucket)
    board.record(video_id, StageRecord(writer="frame_sampler", stage=Stage.SAMPLING,
                                       progress=0.5, counts={"frames": 3}))
    r = client.get(f"/v1/videos/{video_id}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["stage"] == "sampling" and body["done"] is False
    assert body["stages"]["frame_sampler"]["progress"] == 0.5
    assert body["stages"]["frame_sampler"]["counts"] == {"frames": 3}


@pytest.mark.parametrize("bad", ["nope", "v123", "V" + "0" * 24, "v" + "g" * 24])
def test_malformed_video_id_is_422(client: httpx.Client, bad: str) -> None:
    for path in (f"/v1/videos/{bad}", f"/v1/videos/{bad}/report"):
        r = client.get(path)
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "invalid_request"


def test_report_missing_then_present(client: httpx.Client, store: MinioBlobStore) -> None:
    video_id = unknown_video_id()
    r = client.get(f"/v1/videos/{video_id}/report")
    assert r.status_code == 404
    assert r.json()["error"] == "no_report"
    assert f"/v1/videos/{video_id}" in r.json()["message"]

    report = FinalReport(video_id=video_id, status=ReportStatus.REJECTED, reason="test",
                         source=ObjectRef(bucket="uploads", key="api/x/clip.mp4"))
    store.put(StorageSettings().report_bucket, f"{video_id}.json",
              report.model_dump_json().encode(), "application/json")
    r = client.get(f"/v1/videos/{video_id}/report")
    assert r.status_code == 200, r.text
    assert FinalReport.model_validate_json(r.content) == report


def test_openapi_lists_every_path(client: httpx.Client) -> None:
    r = client.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert set(doc["paths"]) == {"/v1/videos", "/v1/videos/{video_id}",
                                 "/v1/videos/{video_id}/report",
                                 "/v1/videos/{video_id}/report.html",
                                 "/v1/videos/{video_id}/video", "/healthz/live",
                                 "/healthz/ready"}
    assert "requestBody" in doc["paths"]["/v1/videos"]["post"]
    for schema in ("SubmitResponse", "ApiError", "VideoStatus", "FinalReport"):
        assert schema in doc["components"]["schemas"]


def test_unknown_route_is_a_json_404(client: httpx.Client) -> None:
    r = client.get("/v2/nothing")
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"
