"""The objects analyzer's real loading path, with a tiny random-weight YOLOv8 built by the test.

The checkpoint is written the way ultralytics writes its release files (a dict holding the
pickled DetectionModel), into a temporary model store, and loaded by ``ObjectsAnalyzer.load``:
the production path. Its detections are random and only their structure is checked.
"""

from __future__ import annotations

import copy
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from plugin_helpers import as_json

from tiktok_analyzer.gpu_heavy.analyzers.objects import ObjectsAnalyzer, ObjectsConfig
from tiktok_analyzer.gpu_heavy.safe_checkpoint import UnsafeCheckpoint, load_checkpoint
from tiktok_analyzer.shared.contracts.events import AnalyzerStatus, Group
from tiktok_analyzer.shared.contracts.results import FrameDetections
from tiktok_analyzer.shared.runtime.analyzers import (
    DecodedFrame,
    FramesInput,
    GroupRunner,
    LoadContext,
)
from tiktok_analyzer.shared.runtime.models import ModelStore


def write_random_yolo(path: Path) -> None:
    from ultralytics import YOLO, __version__

    torch.manual_seed(0)
    network = YOLO("yolov8n.yaml", task="detect").model
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": copy.deepcopy(network).half(), "date": "test", "version": __version__,
                "train_args": {}, "epoch": -1, "optimizer": None, "ema": None}, path)


@pytest.fixture
def store_with_random_yolo(tmp_path: Path) -> ModelStore:
    store = ModelStore(tmp_path / "models")
    write_random_yolo(store.folder("objects") / "yolov8n.pt")
    return store


def batch() -> FramesInput:
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 255, (640, 360, 3), dtype=np.uint8) for _ in range(3)]
    return FramesInput("v", 0, [DecodedFrame(i, 3.0 * i, img) for i, img in enumerate(images)])


def test_random_yolo_loads_through_the_production_path(store_with_random_yolo: ModelStore) -> None:
    analyzer = ObjectsAnalyzer()
    analyzer.load(LoadContext(model_store=store_with_random_yolo, device="cpu"))
    assert (analyzer.model_id, analyzer.model_revision) == ("ultralytics/yolov8n", "v8.3.0")
    records = analyzer.process(batch())
    assert all(isinstance(r, FrameDetections) for r in records)
    assert [r.t for r in records] == [0.0, 3.0, 6.0]
    for record in records:
        for det in record.detections:
            assert 0.0 <= det.confidence <= 1.0
            assert all(0.0 <= v <= 1.0 for v in det.box)
    for wire in as_json(records):
        for det in wire["detections"]:
            assert set(det) == {"label", "class_id", "confidence", "box"}


def test_missing_weights_are_skipped_with_the_pull_command(tmp_path: Path) -> None:
    runner = GroupRunner(Group.GPU_HEAVY, [ObjectsAnalyzer()],
                         LoadContext(model_store=ModelStore(tmp_path), device="cpu"))
    runner.load()
    (run,) = runner.run(batch())
    assert run.status is AnalyzerStatus.SKIPPED
    assert "tiktok-analyzer models pull objects" in (run.reason or "")
    assert run.records == []


class _Exploit:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned",))


def test_checkpoint_with_foreign_code_is_refused(tmp_path: Path) -> None:
    evil = tmp_path / "evil.pt"
    torch.save({"model": _Exploit()}, evil)
    with pytest.raises(UnsafeCheckpoint, match=r"disallowed globals: \['posix.system'\]"):
        load_checkpoint(evil)


def test_checkpoint_the_scanner_cannot_read_is_refused(tmp_path: Path) -> None:
    odd = tmp_path / "odd.pt"
    torch.save({"model": _Exploit()}, odd, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(UnsafeCheckpoint):
        load_checkpoint(odd)


def test_a_broken_weights_file_fails_only_that_analyzer(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    store.folder("objects").mkdir(parents=True)
    (store.folder("objects") / "yolov8n.pt").write_bytes(b"not a checkpoint")
    runner = GroupRunner(Group.GPU_HEAVY, [ObjectsAnalyzer()],
                         LoadContext(model_store=store, device="cpu"))
    runner.load()
    (run,) = runner.run(batch())
    assert run.status is AnalyzerStatus.FAILED
    assert run.reason and run.reason.startswith("load failed")


def test_one_call_over_several_videos_gives_each_the_records_it_gets_alone(
        store_with_random_yolo: ModelStore) -> None:
    # confidence 0: random weights then still give boxes (max_detections per frame), so the
    # comparison covers boxes, not only empty lists. A landscape video among portrait ones
    # takes a pass of its own shape.
    analyzer = ObjectsAnalyzer(ObjectsConfig(confidence=0.0, max_detections=5))
    analyzer.load(LoadContext(model_store=store_with_random_yolo, device="cpu"))
    rng = np.random.default_rng(2)
    batches = [FramesInput(video, 0, [DecodedFrame(i, i / 2, rng.integers(0, 255, shape,
                                                                          dtype=np.uint8))
                                      for i in range(count)])
               for video, shape, count in [("a", (640, 360, 3), 3), ("b", (360, 640, 3), 2),
                                           ("c", (640, 360, 3), 2)]]
    together = analyzer.process_many(batches)
    assert [[len(r.detections) for r in records] for records in together] == [
        [5, 5, 5], [5, 5], [5, 5]]
    assert together == [analyzer.process(b) for b in batches]
