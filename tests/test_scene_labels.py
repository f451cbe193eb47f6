"""``scene_labels`` through its production loading path, and its per-shot and per-video logic.

A tiny random CLIP in open_clip's published format (``tiny_vision_models``) is written into a
temporary model store under the lock's file name and loaded by the analyzer's own ``load()``,
with open_clip's download functions replaced by ones that fail, so a load that tried to reach
the hub would fail the test. Random weights make the labels meaningless: records are checked
for structure (sets, ranking, softmax, unit-norm embeddings), and the aggregation for exact
values on records built by hand.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tiny_vision_models as tv
from plugin_helpers import of_type

from tiktok_analyzer.gpu_light.analyzers.scene_labels import (
    DEFAULT_LABEL_SETS,
    SceneLabelsAnalyzer,
    SceneLabelsConfig,
    SceneLabelsRecord,
    decode_embedding,
    encode_embedding,
)
from tiktok_analyzer.shared.contracts.events import AnalyzerStatus, Group
from tiktok_analyzer.shared.contracts.results import LabelScore
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
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelStore, str]:
    root = tmp_path_factory.mktemp("clip")
    architecture = tv.register_tiny_clip(root / "configs")
    store = ModelStore(root / "models")  # the default lock: the file name must match it
    tv.write_clip(store.folder("scene_labels"), architecture)
    return store, architecture


@pytest.fixture
def no_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    import open_clip.factory  # type: ignore[import-untyped]

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("open_clip tried to download")

    for name in ("download_pretrained", "download_pretrained_from_hf"):
        monkeypatch.setattr(open_clip.factory, name, refuse)


def frames(count: int, start_t: float = 0.0, seed: int = 0) -> list[DecodedFrame]:
    rng = np.random.default_rng(seed)
    return [DecodedFrame(i, start_t + 0.5 * i, rng.integers(0, 255, (480, 270, 3), np.uint8))
            for i in range(count)]


def test_loads_offline_and_labels_every_set(tiny_store: tuple[ModelStore, str],
                                           no_downloads: None) -> None:
    store, architecture = tiny_store
    analyzer = SceneLabelsAnalyzer(SceneLabelsConfig(architecture=architecture, top_k=3))
    runner = GroupRunner(Group.GPU_LIGHT, [analyzer], LoadContext(store, "cpu"))
    runner.load()
    try:
        (outcome,) = runner.run(FramesInput("v", 0, frames(5)))
    finally:
        runner.close()
    assert outcome.status is AnalyzerStatus.OK, outcome.reason
    assert (outcome.model_id, outcome.model_revision) == (
        "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "1a25a446712ba5ee05982a381eed697ef9b435cf")
    records = of_type(outcome.records, SceneLabelsRecord)
    assert [r.t for r in records] == [0.0, 0.5, 1.0, 1.5, 2.0]
    for record in records:
        assert set(record.labels) == set(DEFAULT_LABEL_SETS)
        for name, scores in record.labels.items():
            assert len(scores) == 3
            assert {s.label for s in scores} <= set(DEFAULT_LABEL_SETS[name])
            assert [s.score for s in scores] == sorted((s.score for s in scores), reverse=True)
        vector = decode_embedding(record.embedding)
        assert vector.shape == (tv.TINY_CLIP_CONFIG["embed_dim"],)
        assert abs(float(np.linalg.norm(vector)) - 1.0) < 2e-3


def test_scores_are_a_softmax_within_each_set(tiny_store: tuple[ModelStore, str]) -> None:
    store, architecture = tiny_store
    sets = {"pets": ["cat", "dog", "parrot"], "place": ["beach", "kitchen"]}
    analyzer = SceneLabelsAnalyzer(SceneLabelsConfig(
        architecture=architecture, label_sets=sets, set_templates={}, top_k=10))
    analyzer.load(LoadContext(store, "cpu"))
    (record,) = analyzer.process(FramesInput("v", 0, frames(1)))
    assert set(record.labels) == set(sets)
    for name, scores in record.labels.items():
        assert sorted(s.label for s in scores) == sorted(sets[name])
        assert sum(s.score for s in scores) == pytest.approx(1.0, abs=1e-3)
    assert analyzer.text.shape[0] == 5  # every prompt embedded once, at load


def test_one_forward_pass_gives_each_frame_its_own_embedding(
        tiny_store: tuple[ModelStore, str]) -> None:
    store, architecture = tiny_store
    analyzer = SceneLabelsAnalyzer(SceneLabelsConfig(architecture=architecture))
    analyzer.load(LoadContext(store, "cpu"))
    first, second = frames(2, seed=1)
    again = DecodedFrame(9, 4.0, first.rgb.copy())
    batches = [FramesInput("a", 0, [first, second]), FramesInput("b", 0, [again])]
    together = analyzer.process_many(batches)  # the runner's call over two batches
    alone = [analyzer.process(b) for b in batches]
    assert [[r.t for r in part] for part in together] == [[0.0, 0.5], [4.0]]
    for joint, single in zip(together, alone, strict=True):
        for a, b in zip(joint, single, strict=True):
            assert a.labels.keys() == b.labels.keys()
            assert np.allclose(decode_embedding(a.embedding), decode_embedding(b.embedding),
                               atol=2e-3)
    e_first, e_second, e_again = (decode_embedding(r.embedding)
                                  for r in [*together[0], *together[1]])
    assert float(e_first @ e_again) == pytest.approx(1.0, abs=2e-3)  # the same picture
    assert float(e_first @ e_second) < 0.999  # another picture


def test_an_architecture_that_does_not_fit_the_file_fails_the_load(
        tiny_store: tuple[ModelStore, str], tmp_path: Path) -> None:
    import open_clip

    store, _ = tiny_store
    wider = dict(tv.TINY_CLIP_CONFIG, embed_dim=48)
    (tmp_path / "tiny-test-clip-wider.json").write_text(json.dumps(wider))
    open_clip.add_model_config(tmp_path / "tiny-test-clip-wider.json")
    runner = GroupRunner(Group.GPU_LIGHT,
                         [SceneLabelsAnalyzer(SceneLabelsConfig(
                             architecture="tiny-test-clip-wider"))],
                         LoadContext(store, "cpu"))
    runner.load()
    (outcome,) = runner.run(FramesInput("v", 0, frames(1)))
    assert outcome.status is AnalyzerStatus.FAILED  # strict loading, never random weights
    assert outcome.reason and outcome.reason.startswith("load failed")


def test_the_bundled_tokenizer_is_clips_own() -> None:
    import open_clip

    tokens = open_clip.get_tokenizer("ViT-B-32")(["a photo of a dog."])[0].tolist()
    # <start> a photo of a dog . <end>, then padding: CLIP's BPE vocabulary, read offline.
    assert tokens[:8] == [49406, 320, 1125, 539, 320, 1929, 269, 49407]
    assert tokens[8:] == [0] * 69


def test_missing_weights_are_skipped_with_the_pull_command(tmp_path: Path) -> None:
    runner = GroupRunner(Group.GPU_LIGHT, [SceneLabelsAnalyzer()],
                         LoadContext(ModelStore(tmp_path), "cpu"))
    runner.load()
    (outcome,) = runner.run(FramesInput("v", 0, frames(1)))
    assert outcome.status is AnalyzerStatus.SKIPPED
    assert "tiktok-analyzer models pull scene_labels" in (outcome.reason or "")
    assert outcome.records == []


# --- settings -------------------------------------------------------------------------------------


def test_prompts_fill_each_sets_template() -> None:
    cfg = SceneLabelsConfig(label_sets={"a": ["x", "y"], "b": ["z", "w"]},
                            prompt_template="a photo of {}.", set_templates={"b": "{} video"})
    assert cfg.prompts("a") == ["a photo of x.", "a photo of y."]
    assert cfg.prompts("b") == ["z video", "w video"]
    assert SceneLabelsConfig().prompts("activity")[0] == (
        "a photo of a person talking to the camera.")


@pytest.mark.parametrize("settings", [
    {"prompt_template": "a photo"},
    {"set_templates": {"setting": "{} and {}"}},
    {"label_sets": {"one": ["alone"]}},
    {"label_sets": {"twice": ["cat", "cat"]}},
    {"label_sets": {}},
])
def test_bad_settings_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SceneLabelsConfig.model_validate(settings)


# --- per shot and per video -----------------------------------------------------------------------


def unit(*values: float) -> np.ndarray:
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def record(t: float, setting: dict[str, float], vector: np.ndarray) -> SceneLabelsRecord:
    ranked = sorted(setting.items(), key=lambda kv: -kv[1])
    return SceneLabelsRecord(t=t, labels={"setting": [LabelScore(label=k, score=v)
                                                      for k, v in ranked]},
                             embedding=encode_embedding(vector))


def test_embeddings_round_trip_as_float16() -> None:
    vector = unit(3, -4, 12)
    text = encode_embedding(vector)
    assert len(text) == 8  # 3 x 2 bytes in base64
    assert np.allclose(decode_embedding(text), vector, atol=1e-3)


def test_shots_and_video_average_scores_and_embeddings_by_time() -> None:
    east, north = unit(1, 0, 0), unit(0, 1, 0)
    records = [
        record(0.0, {"indoor": 0.8, "outdoor": 0.2}, east),
        record(1.0, {"indoor": 0.6, "outdoor": 0.4}, east),
        # shot 2 starts at 2.0; "beach" is outside the next frame's top labels: counts 0 there
        record(2.0, {"outdoor": 0.9, "beach": 0.1}, north),
        record(3.0, {"outdoor": 0.7, "indoor": 0.3}, north),
    ]
    summary = SceneLabelsAnalyzer(SceneLabelsConfig(top_k=3)).summarize_with(
        records, VideoFacts(duration_s=4.0, shot_starts_s=(0.0, 2.0)))
    first, second = summary.shots
    assert (first.start_s, first.end_s, first.frames) == (0.0, 2.0, 2)
    assert first.labels["setting"] == [LabelScore(label="indoor", score=0.7),
                                       LabelScore(label="outdoor", score=0.3)]
    assert second.labels["setting"] == [LabelScore(label="outdoor", score=0.8),
                                        LabelScore(label="indoor", score=0.15),
                                        LabelScore(label="beach", score=0.05)]
    assert first.embedding is not None and second.embedding is not None
    assert np.allclose(decode_embedding(first.embedding), east, atol=1e-3)
    assert np.allclose(decode_embedding(second.embedding), north, atol=1e-3)
    # every frame stands for one second: plain means over the video
    assert summary.labels["setting"][:2] == [LabelScore(label="outdoor", score=0.55),
                                             LabelScore(label="indoor", score=0.425)]
    assert summary.top == {"setting": "outdoor"}
    assert summary.embedding is not None
    assert np.allclose(decode_embedding(summary.embedding), unit(1, 1, 0), atol=1e-3)


def test_a_frame_counts_for_the_time_it_stands_for() -> None:
    records = [record(0.0, {"indoor": 1.0, "outdoor": 0.0}, unit(1, 0)),
               record(3.0, {"indoor": 0.0, "outdoor": 1.0}, unit(0, 1))]
    summary = SceneLabelsAnalyzer().summarize_with(records, VideoFacts(duration_s=4.0))
    assert summary.labels["setting"][0] == LabelScore(label="indoor", score=0.75)
    assert summary.shots == []  # shots unknown


def test_nothing_to_summarize() -> None:
    summary = SceneLabelsAnalyzer().summarize([])
    assert (summary.labels, summary.top, summary.embedding, summary.shots) == ({}, {}, None, [])
