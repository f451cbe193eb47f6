"""``objects``: YOLOv8 boxes, classes and confidences per sampled frame, linked into tracks.

The service only detects, frame by frame (stateless, so a replayed batch gives the same
records); the tracks (first and last seen, screen time) are linked in ``summarize_with`` once
the whole video is known, deterministically, so a service restarted mid-video still gives the
same track ids (``tiktok_analyzer.gpu_heavy.tracking`` says why not ultralytics' trackers).
Frames come at 2 per second (and at every shot start), dense enough for IoU linking.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from tiktok_analyzer.gpu_heavy.tracking import canonical_frames, link_tracks
from tiktok_analyzer.shared.contracts.events import Group
from tiktok_analyzer.shared.contracts.report import TimelineEvent
from tiktok_analyzer.shared.contracts.results import (
    Detection,
    FrameDetections,
    StrictSummary,
    frame_durations,
)
from tiktok_analyzer.shared.errors import ConfigError
from tiktok_analyzer.shared.runtime.analyzers import (
    Analyzer,
    AnalyzerConfig,
    FramePolicy,
    FramesInput,
    LoadContext,
    VideoFacts,
)
from tiktok_analyzer.shared.runtime.models import resolve_device


class ObjectsConfig(AnalyzerConfig):
    kind: Literal["objects"] = "objects"
    confidence: float = Field(default=0.25, ge=0.0, le=1.0)
    iou: float = Field(default=0.45, ge=0.0, le=1.0)
    image_size: int = Field(default=640, ge=32)
    max_detections: int = Field(default=100, ge=1)
    track_iou: float = Field(
        default=0.3, gt=0.0, le=1.0,
        description="Least IoU between a track's predicted box and a detection to link them")
    track_max_gap_s: float = Field(
        default=1.0, ge=0.0,
        description="Longest a track may go undetected and still continue (seconds)")
    min_track_frames: int = Field(
        default=2, ge=1, description="Tracks seen on fewer frames are not listed (flicker)")


class ClassStats(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    screen_time_s: float = Field(description="Seconds of sampled frames showing the class")
    max_simultaneous: int
    first_seen_s: float
    last_seen_s: float
    tracks: int = Field(description="Listed tracks of this class")


class ObjectTrack(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: int = Field(description="Numbered from 1 by first appearance; stable across replays")
    label: str
    first_seen_s: float
    last_seen_s: float
    frames: int = Field(description="Sampled frames the object was detected on")
    screen_time_s: float = Field(description="Seconds of sampled frames showing it")
    mean_confidence: float


class ObjectsSummary(StrictSummary):
    classes: dict[str, ClassStats] = Field(
        default_factory=dict, description="By screen time, longest first")
    top_objects: list[str] = Field(default_factory=list, description="Up to five, by screen time")
    tracks: list[ObjectTrack] = Field(
        default_factory=list, description="Objects followed across frames, by first appearance")


class ObjectsAnalyzer(Analyzer[ObjectsConfig, FramesInput, FrameDetections, ObjectsSummary]):
    key: ClassVar[str] = "objects"
    group: ClassVar[Group] = Group.GPU_HEAVY
    version: ClassVar[str] = "1"
    batch_size: ClassVar[int] = 4  # frames per forward pass on a CPU (see effective_batch_size)
    # 2 fps: boxes of a moving object still overlap from one frame to the next.
    inputs = FramePolicy(every_s=0.5, shot_starts=True)
    config_model = ObjectsConfig
    record_model = FrameDetections
    summary_model = ObjectsSummary
    model_entry = "objects"
    headline = ("top_objects",)
    yolo: Any = None  # ultralytics.YOLO once loaded

    def load(self, context: LoadContext) -> None:
        pinned, folder = context.model_store.require(self.key)
        try:
            from ultralytics import YOLO  # type: ignore[attr-defined]  # re-exported lazily
        except ImportError as exc:  # the plugin is importable without its runtime extra
            raise ConfigError("ultralytics is not installed: install "
                              "tiktok-analyzer-gpu-heavy[runtime]") from exc
        from tiktok_analyzer.gpu_heavy.safe_checkpoint import load_checkpoint

        checkpoint = load_checkpoint(folder / pinned.files[0].name)
        network = checkpoint["model"].float().eval()
        # Build the wrapper from the checkpoint's own architecture, then hand it the safely
        # loaded network, so ultralytics never unpickles the file itself.
        yolo = YOLO(network.yaml.get("yaml_file") or "yolov8n.yaml", task="detect")
        yolo.model = network
        self.device = resolve_device(context.device)
        self.yolo = yolo
        self.names: dict[int, str] = dict(network.names)
        self.model_id, self.model_revision = pinned.model_id, pinned.revision

    @property
    def effective_batch_size(self) -> int:
        """16 frames per forward pass on a GPU, which the runner fills from several videos'
        batches; 4 (one sampler batch) on a CPU, where larger passes measured slower
        (docs/benchmarks.md, "Batching across videos"). The ``batch_size`` setting wins."""
        if self.config.batch_size:
            return self.config.batch_size
        return 16 if self.device.startswith("cuda") else self.batch_size

    def process(self, batch: FramesInput) -> list[FrameDetections]:
        return self.process_many([batch])[0]

    def process_many(self, batches: Sequence[FramesInput]) -> list[list[FrameDetections]]:
        """One YOLO forward pass per frame shape over every frame of ``batches`` (the runner
        packs frames of several videos into one call). Frames of one shape share a pass
        because ultralytics letterboxes a mixed batch to full squares, which costs more than
        a pass per shape (short videos are nearly all one portrait shape anyway)."""
        cfg = self.config
        frames = [frame for batch in batches for frame in batch.frames]
        by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for n, frame in enumerate(frames):
            by_shape[frame.rgb.shape].append(n)
        detected: dict[int, FrameDetections] = {}
        for indexes in by_shape.values():
            results: list[Any] = self.yolo.predict(
                [frames[n].rgb[..., ::-1] for n in indexes],  # ultralytics takes BGR arrays
                imgsz=cfg.image_size, conf=cfg.confidence, iou=cfg.iou,
                max_det=cfg.max_detections, device=self.device, verbose=False,
            )
            for n, result in zip(indexes, results, strict=True):
                detected[n] = FrameDetections(t=frames[n].t, detections=self._detections(result))
        out: list[list[FrameDetections]] = []
        start = 0
        for batch in batches:
            out.append([detected[n] for n in range(start, start + len(batch.frames))])
            start += len(batch.frames)
        return out

    def _detections(self, result: Any) -> list[Detection]:
        boxes: Any = result.boxes  # ultralytics types a result as Results | Tensor
        return [
            Detection(label=self.names.get(int(cls), str(int(cls))), class_id=int(cls),
                      confidence=round(float(conf), 4),
                      # x1 y1 x2 y2, 0..1 of the frame
                      box=(round(box[0], 4), round(box[1], 4), round(box[2], 4),
                           round(box[3], 4)))
            for box, conf, cls in zip(boxes.xyxyn.tolist(), boxes.conf.tolist(),
                                      boxes.cls.tolist(), strict=True)
        ]

    def close(self) -> None:
        self.yolo = None

    def summarize_with(self, records: Sequence[FrameDetections], video: VideoFacts
                       ) -> ObjectsSummary:
        cfg = self.config
        frames = canonical_frames(records)
        durations = dict(zip([r.t for r in frames], frame_durations([r.t for r in frames]),
                             strict=True))
        screen_time: dict[str, float] = defaultdict(float)
        max_count: dict[str, int] = defaultdict(int)
        first_seen: dict[str, float] = {}
        last_seen: dict[str, float] = {}
        for record in frames:
            counts = Counter(d.label for d in record.detections)
            for label, count in counts.items():
                screen_time[label] += durations[record.t]
                max_count[label] = max(max_count[label], count)
                first_seen.setdefault(label, record.t)
                last_seen[label] = record.t
        linked = link_tracks(frames, min_iou=cfg.track_iou, max_gap_s=cfg.track_max_gap_s,
                             cuts_s=[s for s in video.shot_starts_s if s > 0])
        kept = [tr for tr in linked if len(tr.times) >= cfg.min_track_frames]
        tracks = [ObjectTrack(id=n, label=tr.label, first_seen_s=tr.times[0],
                              last_seen_s=tr.times[-1], frames=len(tr.times),
                              screen_time_s=round(sum(durations[t] for t in tr.times), 3),
                              mean_confidence=round(sum(tr.confidences) / len(tr.times), 4))
                  for n, tr in enumerate(kept, start=1)]
        per_class = Counter(tr.label for tr in tracks)
        ranked = sorted(screen_time, key=lambda k: (-screen_time[k], k))
        return ObjectsSummary(
            classes={label: ClassStats(screen_time_s=round(screen_time[label], 3),
                                       max_simultaneous=max_count[label],
                                       first_seen_s=first_seen[label],
                                       last_seen_s=last_seen[label],
                                       tracks=per_class[label])
                     for label in ranked},
            top_objects=ranked[:5], tracks=tracks)

    def timeline(self, summary: ObjectsSummary, records: Sequence[FrameDetections]
                 ) -> list[TimelineEvent]:
        return [TimelineEvent(t=info.first_seen_s, analyzer=self.key, label=f"first {label}")
                for label, info in summary.classes.items()]
