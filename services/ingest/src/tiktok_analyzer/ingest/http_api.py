"""The ingest HTTP API: take uploads, answer where a video is, hand out its report.

An upload is streamed to a temporary file while it is hashed and counted (never held in
memory), then stored in the upload bucket at ``api/<sha256>/<filename>``. From there the
bucket's MinIO notification drives the pipeline exactly as for any other upload; the API
publishes nothing to Kafka. The video ID is the one ingest derives from the same bytes
(``identity.py``), so the client learns it before the pipeline has even started.

Status and reports are read from the object store: the per-stage documents of the
``StatusBoard`` in the work bucket, and ``<video_id>.json`` in the report bucket.

``serve`` runs the API with uvicorn as one task of the ingest service's event loop, next to
its FastStream app: the host owns the process's signals, and cancelling the task shuts the
server down gracefully.

Traces: an upload runs in an ``upload`` span, the first of the video's trace when tracing is
on. Its context is stored with the object (user metadata ``traceparent``), and ingest continues
that trace when the object's notification arrives (``TRACEPARENT_METADATA``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import mimetypes
import os
import re
import socket
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Annotated, Any, Literal

import uvicorn
from fastapi import FastAPI, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from tiktok_analyzer.ingest.byte_ranges import (
    UnsatisfiableRange,
    chunks,
    open_object,
    parse_range,
)
from tiktok_analyzer.ingest.identity import video_id_for_digest
from tiktok_analyzer.shared.contracts.events import ObjectRef
from tiktok_analyzer.shared.contracts.report import REPORT_SCHEMA_VERSION, FinalReport
from tiktok_analyzer.shared.errors import PayloadError
from tiktok_analyzer.shared.infra.blobs import MinioBlobStore
from tiktok_analyzer.shared.infra.status import Stage, StageRecord, StatusBoard, VideoStatus
from tiktok_analyzer.shared.observability import telemetry
from tiktok_analyzer.shared.observability.health import Check, run_checks
from tiktok_analyzer.shared.report_html import STORED_VIDEO_SRC, render_html, stored_page_key
from tiktok_analyzer.shared.settings import GateSettings, StorageSettings

log = logging.getLogger(__name__)

API_KEY_PREFIX = "api"
"""Uploads through the API are stored under ``api/<sha256>/<filename>`` in the upload bucket."""
TRACEPARENT_METADATA = "traceparent"
"""User metadata of an API upload holding the upload's trace context (W3C traceparent)."""
VIDEO_ID_PATTERN = r"^[vx][0-9a-f]{24}$"
MAX_FILENAME_CHARS = 255
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

ReadinessFn = Callable[[], Awaitable[dict[str, str | None]]]
"""Check name -> None when fine, else the error message."""
VideoIdParam = Annotated[str, PathParam(
    pattern=VIDEO_ID_PATTERN, description="The ID from the upload's answer",
    examples=["v3f2a9c0d1e2f3a4b5c6d7e8f"])]


# --- response models ----------------------------------------------------------------------


class ApiError(BaseModel):
    """Every error the API answers has this shape."""

    error: str = Field(description="Short machine-readable code, e.g. `too_large`")
    message: str = Field(description="What went wrong and what to do, for people")


class SubmitResponse(BaseModel):
    video_id: str = Field(description='"v" + the first 24 hex digits of the SHA-256 of the bytes')
    object: ObjectRef = Field(description="Where the upload is stored (the pipeline's input)")
    sha256: str = Field(description="SHA-256 of the uploaded bytes, hex")
    size: int = Field(description="Bytes received")
    already_stored: bool = Field(
        description="True when identical bytes under the same filename were uploaded before: "
                    "nothing was stored again and the pipeline is not run again")
    status_url: str = Field(description="Poll this for the video's progress")
    report_url: str = Field(description="The final report, once status says `done`")


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class ReadinessReport(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str | None] = Field(
        description="Each dependency's error message, or null when its check passed")


def _schema_version(raw: bytes) -> object:
    try:
        return json.loads(raw).get("schema_version")
    except (ValueError, AttributeError):
        return None


def _error(status: int, description: str) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ApiError, "description": description}}


class ApiProblem(Exception):
    """Raised by a handler; rendered as an ``ApiError`` with the given status."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def _problem_response(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse(ApiError(error=error, message=message).model_dump(), status_code=status)


# --- uploads -------------------------------------------------------------------------------


def safe_filename(name: str) -> str:
    """The last path component of ``name`` with anything outside ``[A-Za-z0-9._-]`` replaced by
    ``_`` and no leading or trailing dots or underscores. Raises ``ValueError`` when nothing
    usable is left, or for control characters."""
    if _CONTROL.search(name):
        raise ValueError("the filename contains control characters")
    base = re.split(r"[/\\]", name)[-1]
    safe = _UNSAFE_RUN.sub("_", base).strip("._")
    if not safe:
        raise ValueError(f"no usable filename in {name!r}: give a plain name such as clip.mp4")
    return safe


def _absorb(f: IO[bytes], digest: Any, chunk: bytes) -> None:
    digest.update(chunk)
    f.write(chunk)


async def _spool(request: Request, limit: int, spool_dir: Path | None) -> tuple[Path, str, int]:
    """Stream the request body to a temporary file; return its path, SHA-256 and size. Stops
    reading (413) as soon as the body exceeds ``limit`` bytes."""
    fd, name = tempfile.mkstemp(prefix="ingest-api-", suffix=".part", dir=spool_dir)
    path = Path(name)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as f:
            async for chunk in request.stream():
                if not chunk:
                    continue
                size += len(chunk)
                if size > limit:
                    raise ApiProblem(413, "too_large", _too_large(limit))
                await asyncio.to_thread(_absorb, f, digest, chunk)
    except ClientDisconnect:
        path.unlink(missing_ok=True)
        raise ApiProblem(400, "incomplete_body", "the client went away before the body ended"
                         ) from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, digest.hexdigest(), size


def _too_large(limit: int) -> str:
    size = f"{limit} bytes" if limit < 10**6 else f"{limit} bytes ({limit / 1e6:.1f} MB)"
    return f"the file is larger than the limit of {size}; nothing was stored"


def _stat_or_none(store: MinioBlobStore, bucket: str, key: str) -> ObjectRef | None:
    return store.stat(bucket, key) if store.exists(bucket, key) else None


# --- the app -------------------------------------------------------------------------------

_RAW_BODY = {
    "requestBody": {
        "required": True,
        "description": "The video file itself, as the raw request body (any content type). "
                       "Sent streaming; it is never held in memory.",
        "content": {"application/octet-stream": {"schema": {"type": "string",
                                                             "format": "binary"}},
                    "video/*": {"schema": {"type": "string", "format": "binary"}}},
    }
}

_DESCRIPTION = """\
Upload short-form videos to the analysis pipeline, follow their progress and fetch the final
report.

1. `POST /v1/videos?filename=clip.mp4` with the file as the raw body: answers `202` with the
   video ID (derived from the file's SHA-256, so identical bytes are always the same video)
   and the URLs to poll.
2. `GET /v1/videos/{video_id}` until `done` is true.
3. `GET /v1/videos/{video_id}/report` for the report (also published on the Kafka topic
   `tiktok.reports`), or `GET /v1/videos/{video_id}/report.html` to look at it: one
   self-contained page (keyframes embedded) whose player plays `GET /v1/videos/{video_id}/video`.

Errors always have the shape of `ApiError`.
"""


def create_api(store: MinioBlobStore, board: StatusBoard, storage: StorageSettings,
               gate: GateSettings, readiness: ReadinessFn, *,
               spool_dir: Path | None = None) -> FastAPI:
    """The ingest HTTP API over the given store and settings. Nothing connects at creation;
    ``readiness`` is awaited by ``/healthz/ready`` (see ``combine_checks``)."""
    api = FastAPI(
        title="tiktok-analyzer ingest API", version="1", description=_DESCRIPTION,
        openapi_tags=[
            {"name": "videos", "description": "Uploads, status and reports"},
            {"name": "health", "description": "Probes for orchestrators"},
        ],
    )

    @api.exception_handler(ApiProblem)
    async def on_problem(request: Request, exc: ApiProblem) -> JSONResponse:
        return _problem_response(exc.status, exc.error, exc.message)

    @api.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("path", "query"))
            parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else
                         str(err.get("msg", "invalid")))
        return _problem_response(422, "invalid_request", "; ".join(parts) or "invalid request")

    @api.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code,
                                                                  f"http_{exc.status_code}")
        response = _problem_response(exc.status_code, error, str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @api.post(
        "/v1/videos", tags=["videos"], status_code=202, response_model=SubmitResponse,
        summary="Upload a video",
        description="Stores the raw request body in the upload bucket; its bucket notification "
                    "starts the pipeline. Identical bytes give the same video ID, and posting "
                    "them again under the same filename stores nothing new.",
        responses={**_error(400, "Empty or incomplete body"),
                   **_error(413, "Larger than the ingest gate's file size limit"),
                   **_error(422, "Unusable filename"),
                   **_error(503, "The object store is unavailable")},
        openapi_extra=_RAW_BODY,
    )
    async def submit_video(
        request: Request, response: Response,
        filename: Annotated[str, Query(
            min_length=1, max_length=MAX_FILENAME_CHARS,
            description="The file's name; only a safe basename of it is kept "
                        "(characters outside A-Z a-z 0-9 . _ - become _)")] = "upload",
    ) -> SubmitResponse:
        with telemetry.span("upload", new_trace=True, kind=SpanKind.SERVER,
                            attributes={"http.request.method": "POST",
                                        "http.route": "/v1/videos"}):
            return await _submit(request, response, filename)

    async def _submit(request: Request, response: Response, filename: str) -> SubmitResponse:
        try:
            name = safe_filename(filename)
        except ValueError as exc:
            raise ApiProblem(422, "bad_filename", str(exc)) from None
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > gate.max_file_bytes:
            raise ApiProblem(413, "too_large", _too_large(gate.max_file_bytes))
        path, sha256, size = await _spool(request, gate.max_file_bytes, spool_dir)
        try:
            if size == 0:
                raise ApiProblem(400, "empty_body",
                                 "the request body is empty: send the file itself as the body")
            video_id = video_id_for_digest(sha256)
            telemetry.set_video(video_id)
            bucket, key = storage.upload_bucket, f"{API_KEY_PREFIX}/{sha256}/{name}"
            traceparent = telemetry.inject({}).get("traceparent")
            try:
                ref, already = await asyncio.to_thread(_store_upload, store, board, bucket, key,
                                                       path, video_id, sha256, size, traceparent)
            except Exception as exc:
                log.warning("API upload %s/%s failed: %s", bucket, key, exc)
                raise ApiProblem(503, "storage_unavailable",
                                 f"could not store the upload, try again: {exc}") from None
        finally:
            path.unlink(missing_ok=True)
        log.info("API upload %s/%s -> %s, %d bytes%s", bucket, key, video_id, size,
                 " (already stored)" if already else "")
        status_url = str(request.url_for("video_status", video_id=video_id))
        response.headers["Location"] = status_url
        return SubmitResponse(
            video_id=video_id, object=ref, sha256=sha256, size=size, already_stored=already,
            status_url=status_url,
            report_url=str(request.url_for("video_report", video_id=video_id)))

    @api.get(
        "/v1/videos/{video_id}", name="video_status", tags=["videos"],
        response_model=VideoStatus, summary="Where a video is in the pipeline",
        description="The furthest stage any service has recorded, and each service's latest "
                    "record (with progress where it has one). `done` turns true once the "
                    "report exists or the video was rejected.",
        responses={**_error(404, "No service has recorded this video (yet)"),
                   **_error(422, "Malformed video ID"),
                   **_error(503, "The object store is unavailable")},
    )
    async def video_status(video_id: VideoIdParam) -> VideoStatus:
        try:
            status = await asyncio.to_thread(board.read, video_id)
        except Exception as exc:
            raise ApiProblem(503, "storage_unavailable", f"could not read the status: {exc}"
                             ) from None
        if status is None:
            raise ApiProblem(404, "unknown_video",
                             f"no status for {video_id}: it was never uploaded, or its upload "
                             "has not reached ingest yet")
        return status

    async def _stored_report(video_id: str) -> bytes:
        """The stored report JSON, or the API's 404 / 503."""
        try:
            raw = await asyncio.to_thread(_report_or_none, store, storage.report_bucket,
                                          f"{video_id}.json")
        except Exception as exc:
            raise ApiProblem(503, "storage_unavailable", f"could not read the report: {exc}"
                             ) from None
        if raw is None:
            status_url = api.url_path_for("video_status", video_id=video_id)
            raise ApiProblem(404, "no_report",
                             f"there is no report for {video_id} yet: poll {status_url} "
                             "until it says done")
        return raw

    @api.get(
        "/v1/videos/{video_id}/report", name="video_report", tags=["videos"],
        response_model=FinalReport, summary="The video's final report",
        responses={**_error(404, "No report yet"),
                   **_error(422, "Malformed video ID"),
                   **_error(503, "The object store is unavailable")},
    )
    async def video_report(video_id: VideoIdParam) -> Response:
        raw = await _stored_report(video_id)
        try:
            if _schema_version(raw) == REPORT_SCHEMA_VERSION:  # older ones served as stored
                FinalReport.model_validate_json(raw)
        except ValidationError as exc:
            raise ApiProblem(500, "bad_report", f"the stored report does not validate: {exc}"
                             ) from None
        # The stored JSON as the aggregator wrote it: the same bytes Kafka consumers received.
        return Response(raw, media_type="application/json")

    @api.get(
        "/v1/videos/{video_id}/report.html", name="video_report_page", tags=["videos"],
        response_class=HTMLResponse, summary="The video's report as a page to look at",
        description="One self-contained HTML page (keyframes embedded, nothing fetched but "
                    "the video): the page the aggregator stored next to the report, or, for "
                    "a report without one, a page rendered now from the report (without "
                    "keyframes).",
        responses={**_error(404, "No report yet"),
                   **_error(422, "Malformed video ID"),
                   **_error(503, "The object store is unavailable")},
    )
    async def video_report_page(video_id: VideoIdParam) -> HTMLResponse:
        try:
            page = await asyncio.to_thread(_report_or_none, store, storage.report_bucket,
                                           stored_page_key(video_id))
        except Exception as exc:
            raise ApiProblem(503, "storage_unavailable", f"could not read the page: {exc}"
                             ) from None
        if page is None:
            doc = json.loads(await _stored_report(video_id))
            page = (await asyncio.to_thread(render_html, doc, video_src=STORED_VIDEO_SRC,
                                            keyframes_note="keyframes not shown: this page "
                                            "was rendered from the report alone")).encode()
        return HTMLResponse(page)

    @api.get(
        "/v1/videos/{video_id}/video", name="video_source", tags=["videos"],
        summary="The analysed video itself, for the report page's player",
        description="The source object named by the video's report, streamed from the object "
                    "store; answers a single `Range: bytes=` request with `206` so players "
                    "can seek.",
        responses={200: {"content": {"video/*": {}}, "description": "The whole video"},
                   206: {"content": {"video/*": {}}, "description": "The range asked for"},
                   **_error(404, "No report yet, or the video is no longer stored"),
                   **_error(416, "The range lies outside the video"),
                   **_error(422, "Malformed video ID"),
                   **_error(503, "The object store is unavailable")},
    )
    async def video_source(video_id: VideoIdParam, request: Request) -> Response:
        report = json.loads(await _stored_report(video_id))
        source = report.get("source") or {}
        bucket, key = str(source.get("bucket")), str(source.get("key"))
        try:
            ref = await asyncio.to_thread(_stat_or_none, store, bucket, key)
        except Exception as exc:
            raise ApiProblem(503, "storage_unavailable", f"could not read the video: {exc}"
                             ) from None
        if ref is None or ref.size is None:
            raise ApiProblem(404, "no_video", f"the video of {video_id} is no longer stored")
        try:
            wanted = parse_range(request.headers.get("range"), ref.size)
        except UnsatisfiableRange:
            raise ApiProblem(416, "bad_range", f"the video has {ref.size} bytes") from None
        try:
            body = await asyncio.to_thread(open_object, store.client, bucket, key,
                                           source.get("version_id"), wanted)
        except Exception as exc:
            raise ApiProblem(503, "storage_unavailable", f"could not read the video: {exc}"
                             ) from None
        headers = {"Accept-Ranges": "bytes",
                   "Content-Length": str(wanted.length if wanted else ref.size)}
        if wanted is not None:
            headers["Content-Range"] = wanted.content_range(ref.size)
        return StreamingResponse(chunks(body), status_code=206 if wanted else 200,
                                 headers=headers,
                                 media_type=mimetypes.guess_type(key)[0] or "video/mp4")

    @api.get("/healthz/live", tags=["health"], response_model=Liveness,
             summary="Liveness: the process answers (touches neither Kafka nor MinIO)")
    async def live() -> Liveness:
        return Liveness()

    @api.get("/healthz/ready", tags=["health"], response_model=ReadinessReport,
             summary="Readiness: Kafka and MinIO are reachable",
             responses={503: {"model": ReadinessReport,
                              "description": "At least one dependency check failed"}})
    async def ready() -> JSONResponse:
        try:
            checks = dict(await readiness())
        except Exception as exc:
            checks = {"readiness": f"the readiness checks failed: {exc}"}
        ok = all(v is None for v in checks.values())
        body = ReadinessReport(status="ok" if ok else "unavailable", checks=checks)
        return JSONResponse(body.model_dump(), status_code=200 if ok else 503)

    return api


def _store_upload(store: MinioBlobStore, board: StatusBoard, bucket: str, key: str, path: Path,
                  video_id: str, sha256: str, size: int, traceparent: str | None = None
                  ) -> tuple[ObjectRef, bool]:
    """Upload unless the same key already holds these bytes (the key contains their hash).
    ``traceparent`` (the upload's trace context) is stored with the object when given."""
    existing = _stat_or_none(store, bucket, key)
    if existing is not None and existing.size == size:
        return existing, True
    if board.read(video_id) is None:
        # Written before the upload, so ingest's own record (after the notification) is
        # always the later one; a known video's records are left alone.
        board.record(video_id, StageRecord(writer="ingest", stage=Stage.RECEIVED,
                                           detail="uploaded through the HTTP API"))
    content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
    metadata = {"sha256": sha256}
    if traceparent:
        metadata[TRACEPARENT_METADATA] = traceparent
    result = store.client.fput_object(bucket, key, str(path), content_type=content_type,
                                      metadata=metadata)  # type: ignore[arg-type]
    return ObjectRef(bucket=bucket, key=key, version_id=result.version_id or None,
                     etag=(result.etag or "").strip('"') or None, size=size), False


def _report_or_none(store: MinioBlobStore, bucket: str, key: str) -> bytes | None:
    if not store.exists(bucket, key):
        return None
    try:
        return store.get(bucket, key)
    except PayloadError:  # deleted between the two calls
        return None


# --- readiness checks ----------------------------------------------------------------------


async def check_minio(store: MinioBlobStore, bucket: str, timeout_s: float = 3.0) -> str | None:
    """None when MinIO answers and ``bucket`` exists, else why not."""
    try:
        async with asyncio.timeout(timeout_s):
            exists = await asyncio.to_thread(store.client.bucket_exists, bucket)
    except TimeoutError:
        return f"MinIO did not answer within {timeout_s:g} s"
    except Exception as exc:
        return f"MinIO: {exc}"
    return None if exists else f"MinIO: bucket {bucket!r} does not exist"


def combine_checks(checks: Mapping[str, Check], timeout_s: float = 5.0) -> ReadinessFn:
    """One ``readiness`` callable for ``create_api`` from named checks, run as every service's
    readiness runs them (``shared.health.run_checks``: concurrently, each bounded)."""

    async def readiness() -> dict[str, str | None]:
        return await run_checks(checks, timeout_s)

    return readiness


# --- serving -------------------------------------------------------------------------------


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the host application owns SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(api: FastAPI, host: str, port: int, *, log_level: str = "info",
                graceful_s: float = 10.0) -> None:
    """Serve ``api`` until cancelled; cancelling stops accepting connections and gives running
    requests up to ``graceful_s`` seconds to finish. Raises ``RuntimeError`` at once when the
    address cannot be bound (e.g. the port is taken). Meant to run as a task next to a
    FastStream app, which keeps the process's signal handlers."""
    # Bound here rather than by uvicorn, which would exit the whole process on failure.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family)
    except OSError as exc:
        raise RuntimeError(f"the HTTP API cannot listen on {host}:{port}: {exc}") from exc
    config = uvicorn.Config(api, log_level=log_level, log_config=None, lifespan="off",
                            timeout_graceful_shutdown=math.ceil(graceful_s))
    server = _EmbeddedServer(config)
    log.info("HTTP API listening on http://%s:%d", host, port)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        server.should_exit = True  # uvicorn's main loop notices within 0.1 s
        await task
        raise
    finally:
        sock.close()


# --- the exported document -----------------------------------------------------------------


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document, independent of any running service or environment."""

    async def no_checks() -> dict[str, str | None]:
        return {}

    store = MinioBlobStore("127.0.0.1:9000", "unused", "unused", secure=False)  # never contacted
    storage = StorageSettings()
    api = create_api(store, StatusBoard(store, storage.work_bucket), storage, GateSettings(),
                     no_checks)
    return api.openapi()
