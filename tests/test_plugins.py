"""Every discovered analyzer, the same checks (ids = keys); no list of analyzers by hand.

Known-answer tests stay per analyzer (test_*_known_answers.py and friends); here each plugin
must: declare itself completely; keep its generated schema current; import nothing heavy at
module level (the sampler and aggregator import it without the models' libraries); say
``skipped`` with its pull command when its weights are absent; and, when weight-free, turn
synthesized input into records of its record type and a summary of its summary type. Report
analyzers (run by the aggregator over the others' sections) get the same checks, run on an
empty report and on the sections the weight-free analyzers make. The last tests add a
throwaway gpu_light analyzer, and a throwaway report analyzer, as one module each and find
them in a report.
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

from tiktok_analyzer.aggregator.join import Aggregator, build_report
from tiktok_analyzer.cli.schemas import analyzer_schemas
from tiktok_analyzer.shared.contracts.events import (
    AnalyzerRun,
    AnalyzerStatus,
    Group,
    GroupPlan,
    MediaInfo,
    ObjectRef,
    PartialResult,
    SamplingManifest,
)
from tiktok_analyzer.shared.contracts.report import FinalReport, ReportSummary
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
    VideoFacts,
)
from tiktok_analyzer.shared.runtime.models import ModelStore
from tiktok_analyzer.shared.runtime.plugins import (
    AnalyzerClass,
    check_report_plugin,
    discover,
    discover_report,
    installed_keys,
)
from tiktok_analyzer.shared.runtime.report_analyzers import ReportInputs

REPO = Path(__file__).resolve().parents[1]
PLUGINS = discover()
KEYS = sorted(PLUGINS)
REPORT_PLUGINS = discover_report()
REPORT_KEYS = sorted(REPORT_PLUGINS)
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


@pytest.mark.parametrize("key", [*KEYS, *REPORT_KEYS])
def test_its_schema_is_generated_and_current(key: str) -> None:
    committed = REPO / "docs" / "schemas" / "analyzers" / f"{key}.json"
    assert committed.exists(), f"run `tiktok-analyzer schemas` to add {committed.name}"
    assert json.loads(committed.read_text()) == analyzer_schemas()[key], (
        f"{committed} is stale: run `tiktok-analyzer schemas`")


@pytest.mark.parametrize("key", [*KEYS, *REPORT_KEYS])
def test_its_module_imports_nothing_heavy(key: str) -> None:
    module = sys.modules[(PLUGINS.get(key) or REPORT_PLUGINS[key]).__module__]
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
    from tiktok_analyzer.frame_sampler.signals import signals_of_pictures

    rng = np.random.default_rng(7)
    frames = []
    for i in range(4):
        image = np.full((96, 64, 3), (30 + 40 * i, 90, 160), dtype=np.uint8)
        image[20:60, 10:40] = rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)
        frames.append(DecodedFrame(i * 15, i * 0.5, image))
    # For analyzers that read every frame's signals: the sampler's, were these every frame.
    signals = signals_of_pictures(range(len(frames)), [f.t for f in frames],
                                  [f.rgb for f in frames], end_t=2.0)
    return FramesInput("plugin-test", 0, frames, signals)


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
    assert type(analyzer.summarize_with(parsed, VideoFacts(2.0, (0.0, 1.0), 64, 96))) is (
        cls.summary_model)
    metrics = analyzer.report_metrics(summary, parsed)
    assert set(metrics) == set(cls.headline)
    for event in analyzer.timeline(summary, parsed):
        assert event.analyzer == key


# --- report analyzers ---------------------------------------------------------------------------

VIDEO = VideoFacts(duration_s=2.0, shot_starts_s=(0.0, 1.0), width=64, height=96)


def test_report_analyzers_are_found() -> None:
    assert REPORT_KEYS, "the aggregator's analyzers package has no report analyzer"


@pytest.mark.parametrize("key", REPORT_KEYS)
def test_the_report_analyzer_declares_itself(key: str) -> None:
    cls = REPORT_PLUGINS[key]
    check_report_plugin(cls)
    assert cls.description(), f"{key}: its module needs a one-line docstring"
    assert cls.requires, f"{key} reads no other analyzer's section"
    assert cls.summary_model is not Summary, f"{key} needs a summary type of its own"
    assert key not in PLUGINS


@pytest.mark.parametrize("key", REPORT_KEYS)
def test_the_report_analyzer_runs_on_an_empty_report(key: str) -> None:
    cls = REPORT_PLUGINS[key]
    derived = cls().analyze(ReportInputs(VIDEO, {}, installed_keys()))
    assert type(derived.summary) is cls.summary_model
    assert all(type(r) is cls.record_model for r in derived.records)
    json.dumps(derived.summary.model_dump(mode="json"))


def manifest_for(groups: dict[Group, GroupPlan]) -> SamplingManifest:
    media = MediaInfo(container="mp4", duration_s=2.0, size_bytes=1, width=64, height=96)
    return SamplingManifest(video_id="plugin-test", source=ObjectRef(bucket="b", key="k"),
                            media=media, groups=groups, decode_s=0.0, shot_starts_s=[0.0, 1.0],
                            decoded_duration_s=2.0)


@pytest.fixture(scope="module")
def weight_free_report(empty_store: ModelStore) -> FinalReport:
    """The report the aggregator builds from every weight-free analyzer's output on the
    synthesized input (one batch per group)."""
    plans: dict[Group, GroupPlan] = {}
    partials: dict[tuple[Group, int], PartialResult] = {}
    for group in Group:
        keys = [k for k in WEIGHT_FREE if PLUGINS[k].group is group]
        if not keys:
            continue
        runner = GroupRunner(group, [PLUGINS[k]() for k in keys], LoadContext(empty_store, "cpu"))
        runner.load()
        try:
            outcomes = runner.run(synthesized_input(PLUGINS[keys[0]]))
        finally:
            runner.close()
        plans[group] = GroupPlan(batches=1, analyzers=keys)
        partials[(group, 0)] = PartialResult(video_id="plugin-test", group=group, batch_index=0,
                                             runs=[o.to_event() for o in outcomes])
    return build_report(manifest_for(plans), partials)


@pytest.mark.parametrize("key", REPORT_KEYS)
def test_the_report_analyzer_runs_over_the_weight_free_sections(
        key: str, weight_free_report: FinalReport) -> None:
    section = weight_free_report.analyzers[key]
    assert (section.group, section.status) == ("aggregator", AnalyzerStatus.OK), section.reason
    assert type(section.summary) is REPORT_PLUGINS[key].summary_model
    assert all(type(r) is REPORT_PLUGINS[key].record_model for r in section.records)
    again = FinalReport.model_validate_json(weight_free_report.model_dump_json())
    assert again.analyzers[key].summary.model_dump() == section.summary.model_dump(mode="json")


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


THROWAWAY_REPORT = '''"""``opening_sharpness``: the first frame's sharpness (a test plugin)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from tiktok_analyzer.shared.contracts.results import Record, StrictSummary
from tiktok_analyzer.shared.runtime.report_analyzers import (
    Derived,
    ReportAnalyzer,
    ReportAnalyzerConfig,
    ReportInputs,
)


class SharpnessView(BaseModel):
    model_config = ConfigDict(extra="ignore")

    t: float
    sharpness: float


class OpeningSharpnessConfig(ReportAnalyzerConfig):
    kind: Literal["opening_sharpness"] = "opening_sharpness"


class OpeningSharpnessSummary(StrictSummary):
    sharpness: float | None = None
    why: str | None = None


class OpeningSharpness(ReportAnalyzer[OpeningSharpnessConfig, Record, OpeningSharpnessSummary]):
    key: ClassVar[str] = "opening_sharpness"
    requires: ClassVar[tuple[str, ...]] = ("quality",)
    config_model = OpeningSharpnessConfig
    summary_model = OpeningSharpnessSummary

    def analyze(self, inputs: ReportInputs) -> Derived[Record, OpeningSharpnessSummary]:
        frames = inputs.records("quality", SharpnessView)
        if not frames.value:
            return Derived(OpeningSharpnessSummary(why=frames.reason))
        return Derived(OpeningSharpnessSummary(sharpness=frames.value[0].sharpness))


class BrokenConfig(ReportAnalyzerConfig):
    kind: Literal["broken"] = "broken"


class Broken(ReportAnalyzer[BrokenConfig, Record, OpeningSharpnessSummary]):
    key: ClassVar[str] = "broken"
    requires: ClassVar[tuple[str, ...]] = ("opening_sharpness",)
    config_model = BrokenConfig
    summary_model = OpeningSharpnessSummary

    def analyze(self, inputs: ReportInputs) -> Derived[Record, OpeningSharpnessSummary]:
        raise RuntimeError("a bug")
'''


@pytest.fixture
def throwaway_report_plugin(tmp_path: Path) -> Iterator[str]:
    """One module on the aggregator's analyzers package path: nothing else touched."""
    folder = tmp_path / "more_report_analyzers"
    folder.mkdir()
    (folder / "opening_sharpness.py").write_text(THROWAWAY_REPORT)
    package = importlib.import_module("tiktok_analyzer.aggregator.analyzers")
    package.__path__.append(str(folder))
    discover_report.cache_clear()
    try:
        yield "opening_sharpness"
    finally:
        package.__path__.remove(str(folder))
        sys.modules.pop("tiktok_analyzer.aggregator.analyzers.opening_sharpness", None)
        discover_report.cache_clear()


def test_a_new_report_analyzer_is_one_module(throwaway_report_plugin: str) -> None:
    key = throwaway_report_plugin
    record = {"t": 0.0, "width": 64, "height": 96, "sharpness": 12.5, "noise": 0.0,
              "contrast": 0.1, "clipped_dark": 0.0, "clipped_bright": 0.0,
              "black_bars": {"top": 0, "bottom": 0, "left": 0, "right": 0}}
    run = AnalyzerRun(analyzer="quality", version="1", status=AnalyzerStatus.OK, elapsed_s=0.1,
                      records=[record])
    agg = Aggregator()
    agg.handle(manifest_for({Group.GPU_LIGHT: GroupPlan(batches=1, analyzers=["quality"])}))
    (report,) = agg.handle(PartialResult(video_id="plugin-test", group=Group.GPU_LIGHT,
                                         batch_index=0, runs=[run]))
    section = report.analyzers[key]
    assert (section.group, section.status) == ("aggregator", AnalyzerStatus.OK)
    assert section.summary.model_dump() == {"sharpness": 12.5, "why": None}
    # One that raises fails alone, with its error; the report and the others go on.
    assert report.analyzers["broken"].status is AnalyzerStatus.FAILED
    assert report.analyzers["broken"].reason == "RuntimeError: a bug"
    assert report.failed == ["broken"]
    assert {"hook", "pacing"} <= set(report.analyzers)
