"""One-process mode: every stage in this process, no Kafka or MinIO.

Stages hand events to each other through a plain loop, and payloads that would travel by
reference go to a local folder, so the very code the services run is exercised here.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tiktok_analyzer.aggregator.join import Aggregator
from tiktok_analyzer.frame_sampler.stage import sample_video
from tiktok_analyzer.ingest.stage import gate_local_file
from tiktok_analyzer.shared.contracts.events import (
    Group,
    ObjectRef,
    SamplingManifest,
    VideoAccepted,
)
from tiktok_analyzer.shared.contracts.report import FinalReport
from tiktok_analyzer.shared.infra.blobs import LocalBlobStore, PayloadPacker
from tiktok_analyzer.shared.runtime.analyzers import GroupRunner, make_runner
from tiktok_analyzer.shared.runtime.consume import analyze_batch
from tiktok_analyzer.shared.runtime.models import ModelStore
from tiktok_analyzer.shared.settings import (
    ModelStoreSettings,
    PipelineSettings,
    SamplingSettings,
)

Progress = Callable[[str], None]


def stderr_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def file_ref(path: Path) -> ObjectRef:
    return ObjectRef(bucket="local", key=path.name, size=path.stat().st_size)


class LocalPipeline:
    """Loads every group's analyzers once; analyzes any number of files."""

    def __init__(self, pipeline: PipelineSettings | None = None,
                 sampling: SamplingSettings | None = None,
                 models: ModelStoreSettings | None = None,
                 progress: Progress = stderr_progress) -> None:
        self.pipeline = pipeline or PipelineSettings()
        self.sampling = sampling or SamplingSettings()
        models = models or ModelStoreSettings()
        self.progress = progress
        store = ModelStore(models.store)
        started = time.perf_counter()
        self.runners: dict[Group, GroupRunner] = {
            group: make_runner(group, self.pipeline.for_group(group), store, models.device,
                               self.pipeline.settings_for_group(group))
            for group in Group
        }
        progress(f"loaded analyzers in {time.perf_counter() - started:.1f}s")

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
        with tempfile.TemporaryDirectory(prefix="tiktok-blobs-") as tmp:
            blobs = LocalBlobStore(Path(tmp))
            packer = PayloadPacker(blobs, "work", self.sampling.inline_limit_bytes)
            done: dict[Group, int] = dict.fromkeys(Group, 0)
            for event in sample_video(path, gated, packer, self.sampling, self.pipeline):
                if isinstance(event, SamplingManifest):
                    reports += aggregator.handle(event)
                    continue
                reports += aggregator.handle(analyze_batch(self.runners[event.group], event, blobs))
                done[event.group] += 1
                reached = (event.start_s if hasattr(event, "start_s")
                           else event.frames[-1].t if getattr(event, "frames", None) else 0.0)
                self.progress(f"  {reached:6.1f}s / {duration or 0:.1f}s  batches "
                              + " ".join(f"{g}={n}" for g, n in done.items()))
        if len(reports) != 1:
            raise RuntimeError(f"expected one report, got {len(reports)}")
        return reports[0]

    def close(self) -> None:
        for runner in self.runners.values():
            runner.close()


def write_report(report: FinalReport, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{report.video_id}.report.json"
    target.write_text(report.model_dump_json(indent=2))
    return target
