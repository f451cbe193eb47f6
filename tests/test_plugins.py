"""Every discovered analyzer, the same checks (ids = keys); no list of analyzers by hand.

Known-answer tests stay per analyzer (test_*_known_answers.py and friends); here each plugin
must: declare itself completely; keep its generated schema current; import nothing heavy at
module level (the sampler and aggregator import it without the models' libraries); say
``skipped`` with its pull command when its weights are absent; and, when weight-free, turn
synthesized input into records of its record type and a summary of its summary type. The last
test adds a throwaway gpu_light analyzer as one module and finds it in a report.
"""

from __future__ import annotations

import ast
import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tiktok_analyzer.cli.schemas import analyzer_schemas
from tiktok_analyzer.shared.contracts.events import AnalyzerStatus, Group
from tiktok_analyzer.shared.contracts.report import HookMetrics, ReportSummary
from tiktok_analyzer.shared.contracts.results import Record, Summary
from tiktok_analyzer.shared.runtime import plugins as plugins_module
from tiktok_analyzer.shared.runtime.analyzers import (
    AnalyzerInput,
    AudioInput,
    AudioPolicy,
    DecodedFrame,
    FramePolicy,
    FramesInput,
    GroupRunner,
    LoadContext,
)
from tiktok_analyzer.shared.runtime.models import ModelStore
from tiktok_analyzer.shared.runtime.plugins import AnalyzerClass, discover

REPO = Path(__file__).resolve().parents[1]
PLUGINS = discover()
KEYS = sorted(PLUGINS)
WEIGHT_FREE = sorted(k for k, cls in PLUGINS.items() if cls.model_entry is None)
# What a plugin module may import at module level: the standard library, these, and the
# project's own packages. Everything else belongs in load() or process().
LIGHT_IMPORTS = {"numpy", "pydantic", "tiktok_analyzer"}


def test_every_group_has_analyzers() -> None:
    assert {cls.group for cls in PLUGINS.values()} == set(Group)


@pytest.mark.parametrize("key", KEYS)
def test_the_plugin_declares_itself(key: str) -> None:
    cls = PLUGINS[key]
    plugins_module.check_plugin(cls, cls.group)  # what discovery enforces, again by name
    assert cls.description(), f"{key}: its module needs a one-line docstring"
    assert isinstance(cls.inputs, AudioPolicy if cls.group is Group.AUDIO else FramePolicy)
    assert issubclass(cls.record_model, Record) and issubclass(cls.summary_model, Summary)
    assert cls.record_model is not Record, f"{key} needs a record type of its own"
    assert cls.summary_model is not Summary, f"{key} needs a summary type of its own"
    for name in cls.headline:
        assert name in ReportSummary.model_fields
    for name in cls.hook:
        assert name in HookMetrics.model_fields


@pytest.mark.parametrize("key", KEYS)
def test_its_schema_is_generated_and_current(key: str) -> None:
    committed = REPO / "docs" / "schemas" / "analyzers" / f"{key}.json"
    assert committed.exists(), f"run `tiktok-analyzer schemas` to add {committed.name}"
    assert json.loads(committed.read_text()) == analyzer_schemas()[key], (
        f"{committed} is stale: run `tiktok-analyzer schemas`")


@pytest.mark.parametrize("key", KEYS)
def test_its_module_imports_nothing_heavy(key: str) -> None:
    module = sys.modules[PLUGINS[key].__module__]
    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_text())
    for node in tree.body:  # module level only: imports inside functions are the point
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or top in LIGHT_IMPORTS, (
                f"{module.__name__} imports {name} at module level")


def synthesized_input(cls: AnalyzerClass) -> AnalyzerInput:
    """Two seconds of something: frames with structure, or a tone with clicks."""
    if cls.group is Group.AUDIO:
        rate = 16_000
        t = np.arange(2 * rate) / rate
        y = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.5 * ((t % 0.5) < 0.01)
        return AudioInput("plugin-test", 0, 0.0, rate, y.astype(np.float32))
    rng = np.random.default_rng(7)
    frames = []
    for i in range(4):
        image = np.full((96, 64, 3), (30 + 40 * i, 90, 160), dtype=np.uint8)
        image[20:60, 10:40] = rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)
        frames.append(DecodedFrame(i * 15, i * 0.5, image))
    return FramesInput("plugin-test", 0, frames)


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    return ModelStore(tmp_path_factory.mktemp("no-weights"))


@pytest.mark.parametrize("key", KEYS)
def test_on_synthesized_input_with_no_weights(key: str, empty_store: ModelStore) -> None:
    cls = PLUGINS[key]
    analyzer = cls()
    runner = GroupRunner(cls.group, [analyzer], LoadContext(empty_store, "cpu"))
    runner.load()
    try:
        (outcome,) = runner.run(synthesized_input(cls))
    finally:
        runner.close()
    if cls.model_entry is not None:
        assert outcome.status is AnalyzerStatus.SKIPPED
        assert f"tiktok-analyzer models pull {cls.model_entry}" in (outcome.reason or "")
        assert outcome.records == []
        return
    assert outcome.status is AnalyzerStatus.OK, outcome.reason
    assert outcome.records, f"{key} made no records of two seconds of input"
    assert all(type(r) is cls.record_model for r in outcome.records)
    wire = outcome.to_event()  # the transport edge, and back as the aggregator reads it
    parsed = analyzer.parse_records(wire.records)
    assert [r.model_dump() for r in parsed] == [r.model_dump() for r in outcome.records]
    summary = analyzer.summarize(parsed)
    assert type(summary) is cls.summary_model
    json.dumps(summary.model_dump(mode="json"))
    assert type(analyzer.summarize([])) is cls.summary_model  # a video with nothing to say
    metrics = analyzer.report_metrics(summary, parsed, 3.0)
    assert set(metrics) == set(cls.headline) | {f"hook.{n}" for n in cls.hook}
    for event in analyzer.timeline(summary, parsed):
        assert event.analyzer == key


# --- adding an analyzer is one module ------------------------------------------------------------

THROWAWAY = '''"""``edge_density``: share of strong luma edges per frame (a test plugin)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np

from tiktok_analyzer.shared.contracts.events import Group
from tiktok_analyzer.shared.contracts.results import StrictRecord, StrictSummary
from tiktok_analyzer.shared.runtime.analyzers import (
    Analyzer,
    AnalyzerConfig,
    FramePolicy,
    FramesInput,
)


class EdgeDensityConfig(AnalyzerConfig):
    kind: Literal["edge_density"] = "edge_density"
    threshold: float = 40.0


class EdgeDensityRecord(StrictRecord):
    edges: float


class EdgeDensitySummary(StrictSummary):
    mean_edges: float | None = None


class EdgeDensity(Analyzer[EdgeDensityConfig, FramesInput, EdgeDensityRecord,
                           EdgeDensitySummary]):
    key: ClassVar[str] = "edge_density"
    group: ClassVar[Group] = Group.GPU_LIGHT
    inputs = FramePolicy(every_s=1.0)
    config_model = EdgeDensityConfig
    record_model = EdgeDensityRecord
    summary_model = EdgeDensitySummary

    def process(self, batch: FramesInput) -> list[EdgeDensityRecord]:
        out = []
        for frame in batch.frames:
            gray = frame.rgb.astype(np.float32).mean(axis=2)
            edges = np.abs(np.diff(gray, axis=1)) > self.config.threshold
            out.append(EdgeDensityRecord(t=frame.t, edges=round(float(edges.mean()), 4)))
        return out

    def summarize(self, records: Sequence[EdgeDensityRecord]) -> EdgeDensitySummary:
        values = [r.edges for r in records]
        return EdgeDensitySummary(mean_edges=sum(values) / len(values) if values else None)
'''


@pytest.fixture
def throwaway_plugin(tmp_path: Path) -> Iterator[str]:
    """One module in a folder on gpu_light's analyzers package path: nothing else touched."""
    folder = tmp_path / "more_analyzers"
    folder.mkdir()
    (folder / "edge_density.py").write_text(THROWAWAY)
    package = importlib.import_module("tiktok_analyzer.gpu_light.analyzers")
    package.__path__.append(str(folder))
    discover.cache_clear()
    try:
        yield "edge_density"
    finally:
        package.__path__.remove(str(folder))
        sys.modules.pop("tiktok_analyzer.gpu_light.analyzers.edge_density", None)
        discover.cache_clear()


def test_a_new_analyzer_is_one_module(throwaway_plugin: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from tiktok_analyzer.cli.sample import make_video
    from tiktok_analyzer.local.pipeline import LocalPipeline

    key = throwaway_plugin
    assert discover()[key].group is Group.GPU_LIGHT
    monkeypatch.setenv("TIKTOK_MODEL_STORE", str(tmp_path / "models"))
    clip = make_video(tmp_path / "clip.mp4", duration_s=3.0, color=(40, 120, 200), bpm=100,
                      pattern="moving")
    pipeline = LocalPipeline(progress=lambda _m: None)
    try:
        report = pipeline.analyze(clip)
    finally:
        pipeline.close()
    section = report.analyzers[key]  # enabled by default, sampled, run, summarized
    assert section.status is AnalyzerStatus.OK
    assert [r.t for r in section.records] == [0.0, 1.0, 2.0]  # its own policy: 1 frame/s
    assert type(section.summary).__name__ == "EdgeDensitySummary"
    assert report.analyzers["color"].status is AnalyzerStatus.OK  # the others unchanged
