"""``caption`` through its production loading path, with both backends.

Tiny random BLIP-2 and SmolVLM (Idefics3) models in the official layouts (``tiny_vlm``) are
written into a temporary model store under the default lock's file names and loaded by the
analyzer itself. A synthesized clip with known cuts goes through the real sampler, whose
gpu_heavy batches the ``GroupRunner`` hands to the analyzer. Captions from random weights are
noise, so they are checked for structure only; what does not depend on the weights (which
frames are captioned and when, the scenes the VLM backend groups, the merging of captions, the
precision rules, skipping without weights) is checked exactly, the merging on real wordings.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tiny_vlm
import torch
from plugin_helpers import of_type
from test_sampling_policy import BLUE, GREEN, RED, YELLOW, accepted_for, write_clip

from tiktok_analyzer.frame_sampler.stage import sample_video
from tiktok_analyzer.gpu_heavy.analyzers._caption_models import resolve_precision
from tiktok_analyzer.gpu_heavy.analyzers._caption_scenes import SceneBuffer, starts_shot
from tiktok_analyzer.gpu_heavy.analyzers._caption_text import (
    TimedCaption,
    describe,
    merge_runs,
    similarity,
)
from tiktok_analyzer.gpu_heavy.analyzers.caption import (
    CaptionAnalyzer,
    CaptionConfig,
    CaptionRecord,
)
from tiktok_analyzer.shared.contracts.events import (
    AnalyzerStatus,
    FrameBatch,
    Group,
    SamplingManifest,
)
from tiktok_analyzer.shared.errors import ConfigError
from tiktok_analyzer.shared.infra.blobs import LocalBlobStore, PayloadPacker
from tiktok_analyzer.shared.runtime.analyzers import (
    DecodedFrame,
    FramesInput,
    GroupRunner,
    LoadContext,
    VideoFacts,
)
from tiktok_analyzer.shared.runtime.consume import to_input
from tiktok_analyzer.shared.runtime.models import ModelStore
from tiktok_analyzer.shared.settings import PipelineSettings, SamplingSettings

FPS = 30
# Cuts at 1.5 s and 7.2 s of a 10 s clip; keyframes every 3 s: 0 (shot 0), 1.5 (shot 1),
# 3, 6 (shot 1, on the grid), 7.2 (shot 2), 9 (shot 2).
SCENES = [(0.0, RED), (1.5, GREEN), (7.2, BLUE), (8.5, YELLOW)]
KEYFRAMES = [0.0, 1.5, 3.0, 6.0, 7.2, 8.5, 9.0]
SHOT_STARTS = [0.0, 1.5, 7.2, 8.5]


@pytest.fixture(scope="module", autouse=True)
def few_threads() -> Any:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    store = ModelStore(tmp_path_factory.mktemp("caption-models") / "models")  # the default lock
    tiny_vlm.write_tiny_blip2(store.folder("caption"))
    tiny_vlm.write_tiny_smolvlm(store.folder("caption_vlm"))
    return store


@pytest.fixture(scope="module")
def sampled(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[FramesInput], SamplingManifest]:
    """The clip through the real sampler, gpu_heavy running caption alone: its batches as
    the gpu_heavy service decodes them, and the manifest."""
    folder = tmp_path_factory.mktemp("caption-clip")
    clip = write_clip(folder / "cuts.mp4", duration_s=10.0, scenes=SCENES)
    blobs = LocalBlobStore(folder / "blobs")
    events = list(sample_video(clip, accepted_for(clip), PayloadPacker(blobs, "work", 1 << 20),
                               SamplingSettings(heavy_batch=4),
                               PipelineSettings(gpu_heavy=["caption"], gpu_light=[], audio=[])))
    manifest = events[-1]
    assert isinstance(manifest, SamplingManifest)
    batches = [to_input(e, blobs) for e in events
               if isinstance(e, FrameBatch) and e.group is Group.GPU_HEAVY]
    return [b for b in batches if isinstance(b, FramesInput)], manifest


def run(store: ModelStore, batches: list[FramesInput], **settings: Any) -> list[CaptionRecord]:
    analyzer = CaptionAnalyzer(CaptionConfig(**settings))
    runner = GroupRunner(Group.GPU_HEAVY, [analyzer], LoadContext(store, "cpu"))
    runner.load()
    try:
        records: list[CaptionRecord] = []
        for batch in batches:
            (outcome,) = runner.run(batch)
            assert outcome.status is AnalyzerStatus.OK, outcome.reason
            assert outcome.model_id == store.pinned(analyzer.lock_entry).model_id
            records += of_type(outcome.records, CaptionRecord)
        return records
    finally:
        runner.close()


def frame_times(records: list[CaptionRecord]) -> list[float]:
    return [r.t for r in records if r.kind == "frame"]


# --- the production path, both backends ---------------------------------------------------------


def test_the_sampler_picks_keyframes_every_3_s_and_at_shot_starts(
        sampled: tuple[list[FramesInput], SamplingManifest]) -> None:
    batches, manifest = sampled
    assert manifest.shot_starts_s == pytest.approx(SHOT_STARTS, abs=1.01 / FPS)
    times = [f.t for b in batches for f in b.frames]
    assert times == pytest.approx(KEYFRAMES, abs=1.01 / FPS)


def test_blip2_captions_every_keyframe(store: ModelStore,
                                       sampled: tuple[list[FramesInput], SamplingManifest]
                                       ) -> None:
    batches, manifest = sampled
    records = run(store, batches)
    assert frame_times(records) == [f.t for b in batches for f in b.frames]
    assert {r.kind for r in records} == {"frame"}  # BLIP-2 describes no scenes
    assert {r.model_id for r in records} == {"Salesforce/blip2-opt-2.7b"}
    assert all(isinstance(r.caption, str) and "\n" not in r.caption for r in records)
    analyzer = CaptionAnalyzer()
    summary = analyzer.summarize_with(
        analyzer.parse_records([r.model_dump(mode="json") for r in records]),
        VideoFacts(10.0, tuple(manifest.shot_starts_s)))
    assert summary.keyframes == len(KEYFRAMES)
    assert summary.model_id == "Salesforce/blip2-opt-2.7b"
    assert summary.scenes == []
    # Segments never join keyframes of different shots, and cover every keyframe once.
    assert sum(s.frames for s in summary.segments) == len(KEYFRAMES)
    assert [s.shot for s in summary.segments] == sorted(s.shot for s in summary.segments
                                                        if s.shot is not None)


def test_blip2_batches_frames_into_one_generate_call(store: ModelStore) -> None:
    analyzer = CaptionAnalyzer(CaptionConfig(max_new_tokens=5, num_beams=2))
    analyzer.load(LoadContext(store, "cpu"))
    calls: list[int] = []
    generate = analyzer.captioner.model.generate

    def counting(**inputs: Any) -> Any:
        calls.append(int(inputs["pixel_values"].shape[0]))
        assert inputs["max_new_tokens"] == 5 and inputs["num_beams"] == 2
        out = generate(**inputs)
        assert out.shape[1] > inputs["input_ids"].shape[1]  # new tokens after the prompt
        return out

    analyzer.captioner.model.generate = counting
    rng = np.random.default_rng(3)
    frames = [DecodedFrame(i, 3.0 * i, rng.integers(0, 255, (160, 96, 3), dtype=np.uint8))
              for i in range(3)]
    records = analyzer.process(FramesInput("v", 0, frames))
    assert calls == [3]
    assert [r.t for r in records] == [0.0, 3.0, 6.0]


def test_smolvlm_captions_keyframes_and_describes_shots(
        store: ModelStore, sampled: tuple[list[FramesInput], SamplingManifest]) -> None:
    batches, manifest = sampled
    assert len(batches) == 2  # the middle shot spans both batches
    records = run(store, batches, backend="smolvlm", scene_frames=3)
    assert frame_times(records) == [f.t for b in batches for f in b.frames]
    assert {r.model_id for r in records} == {"HuggingFaceTB/SmolVLM-256M-Instruct"}
    scenes = [(r.t, r.end_t, r.frames) for r in records if r.kind == "scene"]
    k = KEYFRAMES
    # Batch 1 (0, 1.5, 3, 6): shot 0; shot 1 so far. Batch 2 (7.2, 8.5, 9): shot 1 is not
    # touched again (its last frame came earlier), shots 2 and 3 start off the grid.
    expected = [(k[0], k[0], 1), (k[1], k[3], 3), (k[4], k[4], 1), (k[5], k[6], 2)]
    assert scenes == [(pytest.approx(a, abs=0.04), pytest.approx(b, abs=0.04), n)
                      for a, b, n in expected]
    summary = CaptionAnalyzer(CaptionConfig(backend="smolvlm")).summarize_with(
        records, VideoFacts(10.0, tuple(manifest.shot_starts_s)))
    assert [s.shot for s in summary.scenes] == [0, 1, 2, 3]
    assert summary.keyframes == len(KEYFRAMES)


def test_a_scene_spanning_batches_is_described_again_and_the_fullest_kept() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    buffer = SceneBuffer(every_s=3.0, tolerance_s=0.1, max_frames=3)
    first = buffer.add("v", [(0.0, image), (1.2, image)])  # 1.2: a shot start
    assert [s.times for s in first] == [[0.0], [1.2]]
    second = buffer.add("v", [(3.0, image), (6.0, image), (9.0, image)])
    assert [s.times for s in second] == [[1.2, 3.0, 6.0], [9.0]]  # full at 3, then anew
    assert buffer.add("other", [(0.0, image)])[0].times == [0.0]  # videos kept apart
    assert buffer.add("v", [(0.0, image)])[0].times == [0.0]  # a replay starts afresh
    assert starts_shot(4.5, 3.0, 0.1) and not starts_shot(6.033, 3.0, 0.1)
    records = [CaptionRecord(t=1.2, caption="a dog", model_id="m", kind="scene", end_t=1.2),
               CaptionRecord(t=1.2, caption="a dog runs to a ball", model_id="m", kind="scene",
                             end_t=6.0, frames=3)]
    summary = CaptionAnalyzer().summarize(records)
    assert [(s.caption, s.frames, s.end_t) for s in summary.scenes] == [
        ("a dog runs to a ball", 3, 6.0)]
    assert summary.description == "A dog runs to a ball."


# --- merging on real wordings ------------------------------------------------------------------


def test_near_identical_captions_are_merged_and_different_ones_kept() -> None:
    assert similarity("a man dancing in a kitchen", "a man is dancing in the kitchen.") == 1.0
    assert similarity("a picture of a dog on a couch", "A dog on the couch") == 1.0
    assert similarity("a woman holding a cup of coffee",
                      "a woman holding a coffee cup") >= 0.75
    assert similarity("a man dancing in a kitchen", "a dog running on the beach") < 0.3
    assert similarity("a red car at night", "a red car parked at night") >= 0.75
    assert similarity("", "") == 1.0 and similarity("", "a dog") == 0.0

    def at(t: float, text: str, shot: int = 0) -> TimedCaption:
        return TimedCaption(t, t, text, 1, shot)

    captions = [at(0, "a man dancing in a kitchen"), at(3, "a man is dancing in the kitchen"),
                at(6, "a dog running on the beach", 1), at(9, "a dog runs on the beach", 1),
                at(12, "a man dancing in the kitchen", 2)]
    merged = merge_runs(captions, 0.75)
    assert [(m.t, m.end_t, m.frames, m.caption) for m in merged] == [
        (0, 3, 2, "a man dancing in a kitchen"), (6, 9, 2, "a dog running on the beach"),
        (12, 12, 1, "a man dancing in the kitchen")]
    # The description tells each distinct thing once, where it first appears, in time order.
    assert describe(merged, 0.75, 5) == "A man dancing in a kitchen. A dog running on the beach."
    # Same shot kept apart from a different shot with the same words.
    assert len(merge_runs([at(0, "a cat"), at(3, "a cat", 1)], 0.75)) == 2
    # Over the limit: the longest-lasting sentences, still in time order.
    long = [TimedCaption(0, 1, "a cat"), TimedCaption(1, 9, "a city street at night"),
            TimedCaption(9, 15, "fireworks over a river")]
    assert describe(long, 0.75, 2) == "A city street at night. Fireworks over a river."
    assert describe([], 0.75, 5) is None


# --- precision and missing weights -------------------------------------------------------------


def test_cpu_refuses_quantized_precision_with_a_clear_error(store: ModelStore) -> None:
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("auto", "cuda:0") == "fp16"
    assert resolve_precision("int8", "cuda") == "int8"
    assert resolve_precision("bf16", "cpu") == "bf16"
    for precision in ("int8", "int4", "fp16"):
        with pytest.raises(ConfigError, match="set precision to 'fp32' or 'bf16'"):
            resolve_precision(precision, "cpu")  # type: ignore[arg-type]
    runner = GroupRunner(Group.GPU_HEAVY, [CaptionAnalyzer(CaptionConfig(precision="int8"))],
                         LoadContext(store, "cpu"))
    runner.load()
    try:
        (outcome,) = runner.run(FramesInput("v", 0, [DecodedFrame(0, 0.0, np.zeros(
            (32, 32, 3), np.uint8))]))
    finally:
        runner.close()
    assert outcome.status is AnalyzerStatus.FAILED
    assert "precision 'int8' cannot run on cpu" in (outcome.reason or "")
    assert "bitsandbytes" in (outcome.reason or "")


def test_bf16_on_cpu_loads_in_bf16(store: ModelStore) -> None:
    analyzer = CaptionAnalyzer(CaptionConfig(precision="bf16"))
    analyzer.load(LoadContext(store, "cpu"))
    assert {p.dtype for p in analyzer.captioner.model.parameters()} == {torch.bfloat16}
    records = analyzer.process(FramesInput("v", 0, [DecodedFrame(0, 0.0, np.zeros(
        (32, 32, 3), np.uint8))]))
    assert [r.t for r in records] == [0.0]


@pytest.mark.parametrize(("backend", "entry"), [("blip2", "caption"), ("smolvlm", "caption_vlm")])
def test_skipped_with_the_pull_command_without_weights(tmp_path: Path, backend: str,
                                                       entry: str) -> None:
    runner = GroupRunner(Group.GPU_HEAVY, [CaptionAnalyzer(CaptionConfig(backend=backend))],
                         LoadContext(ModelStore(tmp_path), "cpu"))
    runner.load()
    try:
        (outcome,) = runner.run(FramesInput("v", 0, [DecodedFrame(0, 0.0, np.zeros(
            (32, 32, 3), np.uint8))]))
    finally:
        runner.close()
    assert outcome.status is AnalyzerStatus.SKIPPED
    assert f"tiktok-analyzer models pull {entry}" in (outcome.reason or "")
    assert outcome.records == []


def test_time_per_keyframe_of_the_tiny_models(store: ModelStore) -> None:
    """Not a benchmark of the real models: a guard that the tiny ones stay cheap enough for
    the suite, and the figure the caption docs quote for them."""
    rng = np.random.default_rng(5)
    frames = [DecodedFrame(i, 3.0 * i, rng.integers(0, 255, (640, 360, 3), dtype=np.uint8))
              for i in range(4)]
    for backend in ("blip2", "smolvlm"):
        analyzer = CaptionAnalyzer(CaptionConfig(backend=backend, scene_frames=0))
        analyzer.load(LoadContext(store, "cpu"))
        analyzer.process(FramesInput("warm", 0, frames[:1]))
        started = time.perf_counter()
        analyzer.process(FramesInput("v", 0, frames))
        per_frame = (time.perf_counter() - started) / len(frames)
        print(f"{backend}: {per_frame * 1000:.1f} ms per keyframe (tiny random model, CPU)")
        assert per_frame < 2.0
