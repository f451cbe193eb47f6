"""The report's HTML page, stored next to its JSON in the report bucket (``<video_id>.html``).

The page is built from the report and, for its keyframes, from the source video, which PyAV
reads straight from MinIO through a short-lived presigned URL: FFmpeg fetches only the byte
ranges it needs (the index and the frames at each shot start), so a long upload is never
downloaded whole and nothing is written to local disk. Why here rather than on request in
ingest: the keyframes cost a decode, done once per report instead of once per view.

Pages are written by one worker thread, after the report is published, in the order the
reports were published (a partial report's page never overwrites the complete one that
followed). A page is an extra: if it fails, or the process dies before it is written, the
report stands, and ingest renders the page from the JSON without keyframes.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta

from tiktok_analyzer.shared.contracts.report import FinalReport, ReportStatus
from tiktok_analyzer.shared.infra.blobs import MinioBlobStore
from tiktok_analyzer.shared.report_html import STORED_VIDEO_SRC, build_html, stored_page_key

log = logging.getLogger(__name__)
SOURCE_URL_TTL = timedelta(minutes=15)


class PageWriter:
    def __init__(self, store: MinioBlobStore, bucket: str) -> None:
        self.store = store
        self.bucket = bucket
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="report-page")

    def submit(self, report: FinalReport) -> Future[None]:
        return self.executor.submit(self._write_logged, report)

    def write(self, report: FinalReport) -> str:
        """Render and store the page; return its key."""
        video = self._source_url(report)
        page = build_html(report, video=video,
                          video_src=STORED_VIDEO_SRC if video is not None else None)
        key = stored_page_key(report.video_id)
        self.store.put(self.bucket, key, page.encode(), "text/html; charset=utf-8")
        return key

    def _source_url(self, report: FinalReport) -> str | None:
        if report.status is ReportStatus.REJECTED or report.media is None:
            return None  # nothing decodable to take keyframes from
        source = report.source
        return str(self.store.client.presigned_get_object(
            source.bucket, source.key, expires=SOURCE_URL_TTL, version_id=source.version_id))

    def _write_logged(self, report: FinalReport) -> None:
        try:
            key = self.write(report)
        except Exception:
            log.exception("the HTML page of %s v%d could not be stored", report.video_id,
                          report.report_version)
            return
        log.info("page %s/%s stored", self.bucket, key)

    def close(self) -> None:
        """Finish the pages already submitted."""
        self.executor.shutdown(wait=True)
