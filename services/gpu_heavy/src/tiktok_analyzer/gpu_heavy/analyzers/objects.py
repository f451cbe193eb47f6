"""``objects``: YOLOv8 boxes, classes and confidences per sampled frame."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from tiktok_analyzer.shared.analyzers import (
    Analyzer,
    AnalyzerConfig,
    FramesInput,
    LoadContext,
    register,
)
from tiktok_analyzer.shared.errors import WeightsMissing
from tiktok_analyzer.shared.events import Group
from tiktok_analyzer.shared.models import resolve_device
from tiktok_analyzer.shared.results import FrameDetections


class ObjectsConfig(AnalyzerConfig):
    kind: Literal["objects"] = "objects"
    confidence: float = Field(default=0.25, ge=0.0, le=1.0)
    iou: float = Field(default=0.45, ge=0.0, le=1.0)
    image_size: int = Field(default=640, ge=32)
    max_detections: int = Field(default=100, ge=1)


@register
class ObjectsAnalyzer(Analyzer):
    key: ClassVar[str] = "objects"
    group: ClassVar[Group] = Group.GPU_HEAVY
    version: ClassVar[str] = "1"
    batch_size: ClassVar[int] = 4
    config_model = ObjectsConfig
    record_model = FrameDetections

    def load(self, context: LoadContext) -> None:
        pinned, folder = context.model_store.require(self.key)
        try:
            from ultralytics import YOLO
        except ImportError as exc:  # pragma: no cover - the service package depends on it
            raise WeightsMissing("ultralytics is not installed: install the gpu_heavy package"
                                 ) from exc
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

    def process(self, batch: FramesInput) -> list[dict[str, Any]]:
        cfg: ObjectsConfig = self.config  # type: ignore[assignment]
        results = self.yolo.predict(
            [frame.rgb[..., ::-1] for frame in batch.frames],  # ultralytics takes BGR arrays
            imgsz=cfg.image_size, conf=cfg.confidence, iou=cfg.iou, max_det=cfg.max_detections,
            device=self.device, verbose=False,
        )
        records = []
        for frame, result in zip(batch.frames, results, strict=True):
            detections = [
                {
                    "label": self.names.get(int(cls), str(int(cls))),
                    "class_id": int(cls),
                    "confidence": round(float(conf), 4),
                    "box": [round(float(v), 4) for v in box],  # x1 y1 x2 y2, 0..1 of the frame
                }
                for box, conf, cls in zip(result.boxes.xyxyn.tolist(), result.boxes.conf.tolist(),
                                          result.boxes.cls.tolist(), strict=True)
            ]
            records.append({"t": frame.t, "detections": detections})
        return records

    def close(self) -> None:
        self.yolo = None  # type: ignore[assignment]
