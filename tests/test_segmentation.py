"""``segmentation`` through its production loading path, and its indoor/outdoor and per-shot
logic.

A tiny random SegFormer with ADE20K's 150 class names (``tiny_vision_models``) is saved with
``save_pretrained`` into a temporary model store, with a ``preprocessor_config.json`` in the
legacy form of the pinned repository, and loaded by the analyzer's own ``load()``. Random
weights make the classes meaningless: records are checked for structure (shares in range and
summing to at most 1, person share always there, the input's aspect ratio kept), the
estimate and the aggregation for exact values on shares built by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tiny_vision_models as tv
from plugin_helpers import of_type

from tiktok_analyzer.gpu_heavy.analyzers.segmentation import (
    INDOOR_CLASSES,
    OUTDOOR_CLASSES,
    ClassShare,
    SegmentationAnalyzer,
    SegmentationConfig,
    SegmentationRecord,
    class_name,
    input_size,
    setting_of,
)
from tiktok_analyzer.shared.contracts.events import AnalyzerStatus, Group
from tiktok_analyzer.shared.runtime.analyzers import (
    DecodedFrame,
    FramesInput,
    GroupRunner,
    LoadContext,
    VideoFacts,
)
from tiktok_analyzer.shared.runtime.models import ModelStore


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # two shared cores: one thread is about as fast and disturbs less
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    store = ModelStore(tmp_path_factory.mktemp("segformer"))  # the default lock's file names
    tv.write_segformer(store.folder("segmentation"), image_size=64)
    return store


def frames(count: int, seed: int = 0) -> list[DecodedFrame]:
    rng = np.random.default_rng(seed)
    return [DecodedFrame(i, 2.0 * i, rng.integers(0, 255, (320, 180, 3), np.uint8))
            for i in range(count)]


def test_loads_through_the_production_path(tiny_store: ModelStore) -> None:
    analyzer = SegmentationAnalyzer(SegmentationConfig(min_share=0.02))
    runner = GroupRunner(Group.GPU_HEAVY, [analyzer], LoadContext(tiny_store, "cpu"))
    runner.load()
    try:
        (outcome,) = runner.run(FramesInput("v", 0, frames(3)))
    finally:
        runner.close()
    assert outcome.status is AnalyzerStatus.OK, outcome.reason
    assert (outcome.model_id, outcome.model_revision) == (
        "nvidia/segformer-b0-finetuned-ade-512-512", "489d5cd81a0b59fab9b7ea758d3548ebe99677da")
    assert analyzer.short_side == 64  # the legacy processor config's "size"
    assert analyzer.labels == tv.ADE20K_CLASSES  # the names come from the checkpoint
    records = of_type(outcome.records, SegmentationRecord)
    assert [r.t for r in records] == [0.0, 2.0, 4.0]
    names = {class_name(n) for n in tv.ADE20K_CLASSES}
    for record in records:
        shares = [c.share for c in record.classes]
        assert shares == sorted(shares, reverse=True)
        assert all(s >= 0.02 for s in shares)
        assert sum(shares) <= 1.0 + 1e-6
        assert {c.label for c in record.classes} <= names  # "bed " is reported as "bed"
        assert record.person_share is not None and 0.0 <= record.person_share <= 1.0
        assert record.indoor_share + record.outdoor_share <= 1.0 + 1e-6


def test_shares_are_of_every_pixel(tiny_store: ModelStore) -> None:
    analyzer = SegmentationAnalyzer(SegmentationConfig(min_share=0.0))
    analyzer.load(LoadContext(tiny_store, "cpu"))
    rows = analyzer.shares([f.rgb for f in frames(2)])
    assert rows.shape == (2, 150)
    assert np.allclose(rows.sum(axis=1), 1.0)
    (record,) = analyzer.process(FramesInput("v", 0, frames(1)))
    # with no threshold the record lists every class present, and the person share, indoor
    # and outdoor shares are sums over the same pixels
    listed = {c.label: c.share for c in record.classes}
    assert sum(listed.values()) == pytest.approx(1.0, abs=2e-3)
    assert record.person_share == listed.get("person", 0.0)
    assert record.indoor_share == pytest.approx(
        sum(v for k, v in listed.items() if k in INDOOR_CLASSES), abs=2e-3)
    assert record.outdoor_share == pytest.approx(
        sum(v for k, v in listed.items() if k in OUTDOOR_CLASSES), abs=2e-3)


def test_frames_of_several_batches_and_sizes_in_one_call(tiny_store: ModelStore) -> None:
    analyzer = SegmentationAnalyzer()
    analyzer.load(LoadContext(tiny_store, "cpu"))
    wide = DecodedFrame(0, 6.0, np.random.default_rng(3).integers(0, 255, (90, 160, 3), np.uint8))
    batches = [FramesInput("a", 0, frames(2)), FramesInput("b", 0, [wide])]
    together = analyzer.process_many(batches)
    assert [[r.t for r in part] for part in together] == [[0.0, 2.0], [6.0]]
    alone = [analyzer.process(b) for b in batches]
    assert [[r.classes for r in part] for part in together] == [
        [r.classes for r in part] for part in alone]


def test_input_keeps_the_aspect_ratio() -> None:
    assert input_size(1920, 1080, 512) == (896, 512)  # 9:16 stays 9:16 (to 32 px)
    assert input_size(360, 640, 512) == (512, 896)
    assert input_size(512, 512, 512) == (512, 512)


def test_missing_weights_are_skipped_with_the_pull_command(tmp_path: Path) -> None:
    runner = GroupRunner(Group.GPU_HEAVY, [SegmentationAnalyzer()],
                         LoadContext(ModelStore(tmp_path), "cpu"))
    runner.load()
    (outcome,) = runner.run(FramesInput("v", 0, frames(1)))
    assert outcome.status is AnalyzerStatus.SKIPPED
    assert "tiktok-analyzer models pull segmentation" in (outcome.reason or "")
    assert outcome.records == []


def test_a_checkpoint_missing_weights_fails_the_load(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    store = ModelStore(tmp_path)
    folder = store.folder("segmentation")
    tv.write_segformer(folder)
    state = load_file(str(folder / "model.safetensors"))
    del state[next(k for k in state if k.startswith("decode_head.classifier"))]
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    runner = GroupRunner(Group.GPU_HEAVY, [SegmentationAnalyzer()], LoadContext(store, "cpu"))
    runner.load()
    (outcome,) = runner.run(FramesInput("v", 0, frames(1)))
    assert outcome.status is AnalyzerStatus.FAILED  # never random weights in a report
    assert "does not fit SegFormer" in (outcome.reason or "")


# --- indoor / outdoor -----------------------------------------------------------------------------


def test_the_class_groups_are_ade20k_names_and_disjoint() -> None:
    names = {class_name(n) for n in tv.ADE20K_CLASSES}
    assert not (INDOOR_CLASSES | OUTDOOR_CLASSES) - names
    assert not INDOOR_CLASSES & OUTDOOR_CLASSES
    assert "person" not in INDOOR_CLASSES | OUTDOOR_CLASSES


@pytest.mark.parametrize(("indoor", "outdoor", "expected"), [
    (0.6, 0.05, ("indoor", 0.0769)),  # a room: walls, floor, a bit of tree through a window
    (0.02, 0.7, ("outdoor", 0.9722)),  # sky and road
    (0.3, 0.3, ("mixed", 0.5)),  # a terrace
    (0.05, 0.05, ("unknown", None)),  # a face filling the frame: too little to tell
    (None, 0.5, ("unknown", None)),
])
def test_setting_from_the_group_shares(indoor: float | None, outdoor: float | None,
                                       expected: tuple[str, float | None]) -> None:
    assert setting_of(indoor, outdoor) == expected


def record(t: float, classes: dict[str, float], person: float, indoor: float,
           outdoor: float) -> SegmentationRecord:
    ranked = sorted(classes.items(), key=lambda kv: -kv[1])
    return SegmentationRecord(t=t, classes=[ClassShare(label=k, share=v) for k, v in ranked],
                              person_share=person, indoor_share=indoor, outdoor_share=outdoor)


def test_shots_and_video_weighted_by_time() -> None:
    records = [
        record(0.0, {"wall": 0.5, "floor": 0.2, "person": 0.3}, 0.3, 0.7, 0.0),
        record(2.0, {"wall": 0.3, "floor": 0.1, "person": 0.6}, 0.6, 0.4, 0.0),
        # shot 2 from 4 s, one frame standing for 4 s: outdoors
        record(4.0, {"sky": 0.6, "road": 0.3, "person": 0.1}, 0.1, 0.0, 0.9),
    ]
    summary = SegmentationAnalyzer(SegmentationConfig(top_k=3)).summarize_with(
        records, VideoFacts(duration_s=8.0, shot_starts_s=(0.0, 4.0)))
    room, street = summary.shots
    assert (room.start_s, room.end_s, room.frames) == (0.0, 4.0, 2)
    assert room.top_classes == [ClassShare(label="person", share=0.45),
                                ClassShare(label="wall", share=0.4),
                                ClassShare(label="floor", share=0.15)]
    assert (room.person_share, room.setting, room.outdoor_ratio) == (0.45, "indoor", 0.0)
    assert (street.setting, street.outdoor_ratio, street.person_share) == ("outdoor", 1.0, 0.1)
    # the video: 2 s + 2 s indoors, 4 s outdoors
    assert summary.person_share == pytest.approx((0.3 * 2 + 0.6 * 2 + 0.1 * 4) / 8, abs=1e-4)
    assert summary.indoor_share == pytest.approx((0.7 * 2 + 0.4 * 2) / 8, abs=1e-4)
    assert summary.outdoor_share == pytest.approx(0.9 * 4 / 8, abs=1e-4)
    # 0.45 outdoor against 0.275 indoor: 62 % outdoor, under the 65 % majority
    assert (summary.setting, summary.outdoor_ratio) == ("mixed", 0.6207)
    assert summary.top_classes[0] == ClassShare(label="sky", share=0.3)


def test_nothing_to_summarize() -> None:
    summary = SegmentationAnalyzer().summarize([])
    assert (summary.top_classes, summary.person_share, summary.setting, summary.shots) == (
        [], None, "unknown", [])
