"""One-process mode: every stage in this process, no Kafka or MinIO.

Stages hand events to each other through a plain loop, and payloads that would travel by
reference go to a local folder, so the very code the services run is exercised here.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from tiktok_analyzer.aggregator.join import Aggregator
from tiktok_analyzer.frame_sampler.stage import sample_video
from tiktok_analyzer.ingest.stage import gate_local_file
from tiktok_analyzer.shared.contracts.events import (
    AudioChunk,
    FrameBatch,
    Group,
    ObjectRef,
    PartialResult,
    SamplingManifest,
    VideoAccepted,
)
from tiktok_analyzer.shared.contracts.report import FinalReport
from tiktok_analyzer.shared.infra.blobs import LocalBlobStore, PayloadPacker
from tiktok_analyzer.shared.runtime.analyzers import GroupRunner, make_runner
from tiktok_analyzer.shared.runtime.consume import analyze_batches
from tiktok_analyzer.shared.runtime.gpu import GpuSettings
from tiktok_analyzer.shared.runtime.models import ModelStore
from tiktok_analyzer.shared.settings import (
    ModelStoreSettings,
    PipelineSettings,
    SamplingSettings,
)

Progress = Callable[[str], None]
Position = Callable[[float, float | None], None]
"""Called as a file's analysis advances: seconds of the video done, and its duration."""


def stderr_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def file_ref(path: Path) -> ObjectRef:
    return ObjectRef(bucket="local", key=path.name, size=path.stat().st_size)


# Batches waiting for a group's worker: enough to keep it busy, few enough that decoding
# blocks (rather than piling frames up in memory) when a group falls behind.
_BATCHES_AHEAD = 4


def seconds_since_process_start() -> float:
    """How long this process has run: from /proc (Linux), so interpreter start-up and imports
    count, as a user waiting for the command sees them."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _IMPORTED_AT


_IMPORTED_AT = time.perf_counter()


class LocalPipeline:
    """Every stage in this process; loads each group's analyzers once and analyzes any number
    of files.

    Concurrency: each group's analyzers load on a thread of their own while the first file is
    already being gated and decoded, and each group analyzes its batches on its own worker
    thread while the sampler keeps decoding (at most ``_BATCHES_AHEAD`` batches wait per
    group, and the worker analyzes all those waiting together: ``_submit``). The model
    libraries release the GIL in their kernels, so a video takes about as long as the slowest
    of decoding and each group, not their sum."""

    def __init__(self, pipeline: PipelineSettings | None = None,
                 sampling: SamplingSettings | None = None,
                 models: ModelStoreSettings | None = None,
                 progress: Progress = stderr_progress,
                 position: Position | None = None) -> None:
        self.pipeline = pipeline or PipelineSettings()
        self.sampling = sampling or SamplingSettings()
        models = models or ModelStoreSettings()
        self.progress = progress
        self.position = position
        self.timings: dict[str, float] = {}
        store = ModelStore(models.store)
        self._load_started = time.perf_counter()
        self._loaders = ThreadPoolExecutor(max_workers=len(Group), thread_name_prefix="load")
        self._runners: dict[Group, Future[GroupRunner]] = {
            group: self._loaders.submit(make_runner, group, self.pipeline.for_group(group),
                                        store, models.device,
                                        self.pipeline.settings_for_group(group),
                                        GpuSettings().memory_fraction)
            for group in Group
        }
        self._workers = {group: ThreadPoolExecutor(max_workers=1,
                                                   thread_name_prefix=f"analyze-{group}")
                         for group in Group}
        self._queues: dict[Group, list[tuple[FrameBatch | AudioChunk, Future[PartialResult]]]] = {
            group: [] for group in Group}
        self._queue_lock = threading.Lock()

    @property
    def runners(self) -> dict[Group, GroupRunner]:
        """Every group's runner, waiting for the ones still loading."""
        return {group: future.result() for group, future in self._runners.items()}

    def wait_loaded(self) -> float:
        """Block until every group's analyzers are loaded; seconds the loading took."""
        runners = self.runners
        if "loaded_s" not in self.timings:
            self.timings["loaded_s"] = round(time.perf_counter() - self._load_started, 2)
            self.progress(f"loaded analyzers in {self.timings['loaded_s']:.1f}s "
                          f"({sum(len(r.keys) for r in runners.values())} analyzers)")
        return self.timings["loaded_s"]

    def _submit(self, group: Group, event: FrameBatch | AudioChunk,
                blobs: LocalBlobStore) -> Future[PartialResult]:
        """Queue ``event`` for its group's worker. The worker takes every batch queued by the
        time it is free (up to ``_BATCHES_AHEAD``) and analyzes them together, so that the
        analyzers' model calls fill up to their batch size as in the services."""
        future: Future[PartialResult] = Future()
        with self._queue_lock:
            self._queues[group].append((event, future))
        self._workers[group].submit(self._drain, group, blobs)
        return future

    def _drain(self, group: Group, blobs: LocalBlobStore) -> None:
        with self._queue_lock:
            taken = list(self._queues[group])
            self._queues[group].clear()
        if not taken:
            return  # an earlier drain took them
        try:
            partials = analyze_batches(self._runners[group].result(),
                                       [event for event, _ in taken], blobs)
        except BaseException as exc:
            for _, future in taken:
                future.set_exception(exc)
            raise
        for (_, future), partial in zip(taken, partials, strict=True):
            future.set_result(partial)

    def analyze(self, path: Path) -> FinalReport:
        ref = file_ref(path)
        gated = gate_local_file(path, ref)
        aggregator = Aggregator()
        if not isinstance(gated, VideoAccepted):
            self.progress(f"rejected: {gated.reason}")
            return aggregator.handle(gated)[0]
        aggregator.handle(gated)
        duration = gated.media.duration_s
        self.progress(f"accepted {path.name}: {gated.media.width}x{gated.media.height}, "
                      f"{duration or 0:.1f}s, {gated.media.video_codec}/{gated.media.audio_codec}")
        reports: list[FinalReport] = []
        done: dict[Group, int] = dict.fromkeys(Group, 0)
        reached = 0.0

        def finished(partial: PartialResult, at_s: float) -> None:
            nonlocal reached
            reports.extend(aggregator.handle(partial))
            done[partial.group] += 1
            reached = max(reached, at_s)
            self.progress(f"  {reached:6.1f}s / {duration or 0:.1f}s  batches "
                          + " ".join(f"{g}={n}" for g, n in done.items()))
            if self.position is not None:
                self.position(reached, duration)

        with tempfile.TemporaryDirectory(prefix="tiktok-blobs-") as tmp:
            blobs = LocalBlobStore(Path(tmp))
            packer = PayloadPacker(blobs, "work", self.sampling.inline_limit_bytes)
            pending: deque[tuple[Future[PartialResult], float]] = deque()
            slots = {group: threading.BoundedSemaphore(_BATCHES_AHEAD) for group in Group}
            manifest: SamplingManifest | None = None
            for event in sample_video(path, gated, packer, self.sampling, self.pipeline):
                self.timings.setdefault("first_batch_s", round(seconds_since_process_start(), 2))
                if isinstance(event, SamplingManifest):
                    manifest = event
                    continue
                slots[event.group].acquire()  # back-pressure: decoding waits for a slow group
                future = self._submit(event.group, event, blobs)
                future.add_done_callback(functools.partial(_release, slots[event.group]))
                pending.append((future, _reached_s(event)))
                while pending and pending[0][0].done():
                    future, at_s = pending.popleft()
                    finished(future.result(), at_s)
            while pending:
                future, at_s = pending.popleft()
                finished(future.result(), at_s)
            if manifest is not None:
                reports += aggregator.handle(manifest)
        self.wait_loaded()
        if len(reports) != 1:
            raise RuntimeError(f"expected one report, got {len(reports)}")
        return reports[0]

    def close(self) -> None:
        for worker in self._workers.values():
            worker.shutdown(wait=True)
        for future in self._runners.values():
            future.result().close()
        self._loaders.shutdown(wait=True)


def _release(slot: threading.BoundedSemaphore, _done: Future[PartialResult]) -> None:
    slot.release()


def _reached_s(event: FrameBatch | AudioChunk) -> float:
    if isinstance(event, AudioChunk):
        return event.start_s + event.num_samples / event.sample_rate
    return event.frames[-1].t if event.frames else 0.0


def write_report(report: FinalReport, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{report.video_id}.report.json"
    target.write_text(report.model_dump_json(indent=2))
    return target
