"""``tiktok-analyzer follow``: tail the report topic, one line per report.

For operators, and the worked example of a downstream consumer (docs/downstream.md): it reads
``tiktok.reports`` with its own consumer group (or none), routes on the CloudEvents headers
(``ce_type``, ``ce_subject``) before it parses a body, and skips a report version it has
already printed (the topic is compacted, and a replay can deliver a version twice).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any

from tiktok_analyzer.shared.contracts.report import REPORT_SCHEMA_VERSION, FinalReport
from tiktok_analyzer.shared.contracts.topics import REPORTS
from tiktok_analyzer.shared.infra import cloudevents
from tiktok_analyzer.shared.infra.security import kafka_client_kwargs
from tiktok_analyzer.shared.settings import IngestSettings

REPORT_TYPE = f"tiktok_analyzer.report.final.v{REPORT_SCHEMA_VERSION}"


def report_line(report: FinalReport, html_base: str | None) -> str:
    """One line: video, status, duration, headline numbers, link to the HTML report."""
    parts = [report.video_id, f"v{report.report_version}", str(report.status)]
    if report.media is not None and report.media.duration_s:
        parts.append(f"{report.media.duration_s:.1f}s")
    summary = report.summary
    if summary is not None:
        shown: dict[str, Any] = {
            "cuts/min": summary.cuts_per_minute, "tempo": summary.tempo_bpm,
            "lufs": summary.loudness_lufs, "speech": summary.speech_ratio,
            "colours": ",".join(summary.dominant_colors or []) or None,
        }
        parts += [f"{k}={v}" for k, v in shown.items() if v is not None]
    if report.reason:
        parts.append(f"reason={report.reason[:80]!r}")
    if report.failed:
        parts.append(f"failed={','.join(report.failed)}")
    if html_base:
        parts.append(f"{html_base}/v1/videos/{report.video_id}/report.html")
    return "  ".join(parts)


async def follow(*, from_beginning: bool = False, group: str | None = None,
                 limit: int | None = None, idle_timeout_s: float | None = None,
                 out: Callable[[str], None] = print, as_json: bool = False) -> int:
    """Print reports as they arrive; returns how many were printed. Stops after ``limit``
    reports or ``idle_timeout_s`` without one (both unset: runs until interrupted)."""
    from aiokafka import AIOKafkaConsumer

    ingest = IngestSettings()
    html_base = f"http://{ingest.http_host}:{ingest.http_port}" if ingest.http_enabled else None
    consumer = AIOKafkaConsumer(
        REPORTS.name, **kafka_client_kwargs(), group_id=group,
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=group is not None, isolation_level="read_committed")
    seen: set[str] = set()
    printed = 0
    await consumer.start()
    try:
        idle = 0.0
        while limit is None or printed < limit:
            batches = await consumer.getmany(timeout_ms=500)
            if not batches:
                idle += 0.5
                if idle_timeout_s is not None and idle >= idle_timeout_s:
                    break
                continue
            idle = 0.0
            for records in batches.values():
                for record in records:
                    attributes = cloudevents.parse(record.headers or ())
                    # Route and deduplicate on the headers: no body is parsed for an event of
                    # another type or a version already printed.
                    if attributes.get("type") != REPORT_TYPE or attributes.get("id") in seen:
                        continue
                    seen.add(attributes.get("id", ""))
                    report = FinalReport.model_validate_json(record.value)
                    if as_json:
                        out(json.dumps({"cloudevent": attributes,
                                        "report": json.loads(record.value)}))
                    else:
                        out(report_line(report, html_base))
                    printed += 1
                    if limit is not None and printed >= limit:
                        break
    finally:
        await consumer.stop()
    return printed


def add_arguments(parser: Any) -> None:
    parser.add_argument("--from-beginning", action="store_true",
                        help="start at the oldest report kept (default: new reports only)")
    parser.add_argument("--group", default=None,
                        help="a consumer group, to resume where it left off (default: none)")
    parser.add_argument("--limit", type=int, default=None, help="stop after N reports")
    parser.add_argument("--idle-timeout", type=float, default=None,
                        help="stop after this many seconds without a report")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per line: the CloudEvents attributes and the report")


def run(args: Any) -> int:
    try:
        asyncio.run(follow(from_beginning=args.from_beginning, group=args.group,
                           limit=args.limit, idle_timeout_s=args.idle_timeout,
                           as_json=args.json, out=lambda line: print(line, flush=True)))
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return 0
