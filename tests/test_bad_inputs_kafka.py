"""Awkward and hostile uploads (tests/media_corpus.py), all at once, through the real pipeline:
each stored object gets exactly one report with the right status and reason or warning, no
service dies, and no reference inside a file is ever followed."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from media_corpus import CASES, TRAP_PORT, CorpusCase, build_all

from tiktok_analyzer.cli.services import ServiceSet
from tiktok_analyzer.cli.submit import upload
from tiktok_analyzer.ingest.identity import video_id_for_file
from tiktok_analyzer.shared.contracts.report import FinalReport
from tiktok_analyzer.shared.contracts.topics import REPORTS
from tiktok_analyzer.shared.settings import KafkaSettings


def test_the_corpus_builds(tmp_path: Path) -> None:
    paths = build_all(tmp_path, tag="fast")
    assert len(CASES) >= 15
    assert list(paths) == [c.name for c in CASES]
    assert all(paths[c.name].name == c.filename and paths[c.name].exists() for c in CASES)
    for case in CASES:
        if case.expect == "rejected":
            assert case.reason_contains and not case.warning_contains, case.name
        else:
            assert case.reason_contains is None, case.name


@pytest.fixture
def trap() -> Iterator[list[str]]:
    """A local HTTP server on the port the `hls_url` case points at; records every connection."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(f"{self.command} {self.path}")
            self.send_response(404)
            self.end_headers()

        do_HEAD = do_POST = do_GET

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def verify_request(self, request: Any, client_address: Any) -> bool:
            hits.append(f"connection from {client_address}")
            return True

    server = Server(("127.0.0.1", TRAP_PORT), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hits
    server.shutdown()
    server.server_close()


def _answers(found: list[FinalReport], key: str, video_id: str,
             since: datetime) -> list[FinalReport]:
    """The reports for one stored object: those naming it as their source or, when there are
    none, those for the same bytes from before this run. Only the empty file has bytes that an
    earlier run can have uploaded too; ingest answers identical bytes once (a `duplicate`)."""
    mine = [r for r in found if r.source.key == key]
    return mine or [r for r in found if r.video_id == video_id and r.created_at < since]


async def _read_reports(objects: dict[str, str], since: datetime, timeout: float,
                        settle_s: float) -> list[FinalReport]:
    """Reports on the topic (read from the beginning) for these objects (key -> video ID),
    until every object has its answer, then `settle_s` more to catch duplicates."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(REPORTS.name, bootstrap_servers=KafkaSettings().bootstrap_servers,
                                group_id=None, auto_offset_reset="earliest",
                                isolation_level="read_committed", enable_auto_commit=False)
    found: list[FinalReport] = []
    await consumer.start()
    try:
        deadline, settle_until = time.monotonic() + timeout, None
        while time.monotonic() < min(deadline, settle_until or deadline):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    report = FinalReport.model_validate_json(record.value)
                    if report.source.key in objects or report.video_id in objects.values():
                        found.append(report)
            if settle_until is None and all(_answers(found, key, video_id, since)
                                            for key, video_id in objects.items()):
                settle_until = time.monotonic() + settle_s
    finally:
        await consumer.stop()
    return found


def _judge(case: CorpusCase, reports: list[FinalReport]) -> str | None:
    """What is wrong with this case's reports, or None."""
    if len(reports) != 1:
        return f"{len(reports)} reports"
    report = reports[0]
    got = f"{report.status}: {report.reason}" if report.reason else report.status
    if report.warnings:
        got += f"; warnings: {' | '.join(report.warnings)}"
    if report.status != case.expect:
        return got
    if case.reason_contains and case.reason_contains not in (report.reason or "").lower():
        return got
    if case.warning_contains and not any(case.warning_contains in w.lower()
                                         for w in report.warnings):
        return got
    return None


@pytest.mark.infra
def test_every_awkward_upload_gets_exactly_one_right_report(
        services: ServiceSet, tmp_path: Path, trap: list[str]) -> None:
    run = uuid.uuid4().hex[:8]
    paths = build_all(tmp_path / "corpus", tag=run)  # the tag gives this run's files new bytes
    started = datetime.now(UTC)
    keys = {c.name: upload(paths[c.name], key=f"bad-inputs/{run}/{c.filename}").key
            for c in CASES}
    video_ids = {c.name: video_id_for_file(paths[c.name]) for c in CASES}
    objects = {keys[c.name]: video_ids[c.name] for c in CASES}
    found = asyncio.run(_read_reports(objects, started, timeout=240, settle_s=5))

    problems: list[tuple[str, str, str]] = []
    for case in CASES:
        reports = _answers(found, keys[case.name], video_ids[case.name], started)
        problem = _judge(case, reports)
        if problem:
            want = case.reason_contains or case.warning_contains or "(no warning required)"
            problems.append((case.name, f"{case.expect} ~ {want!r}", problem[:200]))
    dead = {name: proc.returncode for name, proc in services.procs.items()
            if proc.poll() is not None}

    failures = []
    if problems:
        table = "\n".join(f"  {name:<26} {want:<45} {got}" for name, want, got in problems)
        failures.append(f"{len(problems)} of {len(CASES)} cases wrong "
                        f"(case, expected, got):\n{table}")
    if dead:
        failures.append(f"services exited: {dead}")
    if trap:
        failures.append(f"the hls_url case reached the local HTTP server: {trap}")
    assert not failures, "\n".join(failures)
