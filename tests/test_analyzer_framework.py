"""The analyzer framework itself: timeouts, batching, derived analyzers, record validation,
settings, device choice and offline mode, with small analyzers defined here."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pytest

from tiktok_analyzer.shared.contracts.events import AnalyzerStatus, Group
from tiktok_analyzer.shared.contracts.results import Record, StrictRecord, Summary
from tiktok_analyzer.shared.errors import ConfigError
from tiktok_analyzer.shared.runtime.analyzers import (
    Analyzer,
    AnalyzerConfig,
    AnalyzerOutcome,
    AnyAnalyzer,
    DecodedFrame,
    DerivedAnalyzer,
    FramePolicy,
    FramesInput,
    GroupRunner,
    LoadContext,
    build_analyzers,
    dependency_order,
    make_runner,
)
from tiktok_analyzer.shared.runtime.models import OFFLINE_ENV, ModelStore, resolve_device
from tiktok_analyzer.shared.runtime.plugins import discover
from tiktok_analyzer.shared.settings import PipelineSettings


def frames(n: int, video_id: str = "v") -> FramesInput:
    image = np.zeros((4, 4, 3), dtype=np.uint8)
    return FramesInput(video_id, 0, [DecodedFrame(i, 0.5 * i, image) for i in range(n)])


def runner(*analyzers: AnyAnalyzer, device: str = "cpu") -> GroupRunner:
    r = GroupRunner(Group.GPU_LIGHT, analyzers,
                    LoadContext(model_store=ModelStore(Path("/nonexistent")), device=device))
    r.load()
    return r


class CountConfig(AnalyzerConfig):
    kind: Literal["count"] = "count"
    label: str = "x"


class Labelled(StrictRecord):
    label: str


class Count(Analyzer[CountConfig, FramesInput, Labelled, Summary]):
    """One record per frame; remembers the sizes of the batches it was called with."""

    key: ClassVar[str] = "count"
    group: ClassVar[Group] = Group.GPU_LIGHT
    batch_size: ClassVar[int] = 2
    inputs = FramePolicy()
    config_model = CountConfig
    record_model = Labelled

    def __init__(self, config: CountConfig | None = None) -> None:
        super().__init__(config)
        self.calls: list[int] = []

    def process(self, batch: FramesInput) -> list[Labelled]:
        self.calls.append(len(batch.frames))
        return [Labelled(t=f.t, label=self.config.label) for f in batch.frames]


class Sleepy(Analyzer[AnalyzerConfig, FramesInput, Record, Summary]):
    key: ClassVar[str] = "sleepy"
    group: ClassVar[Group] = Group.GPU_LIGHT
    inputs = FramePolicy()

    def __init__(self, config: AnalyzerConfig | None = None) -> None:
        super().__init__(config)
        self.release = threading.Event()

    def process(self, batch: FramesInput) -> list[Record]:
        if batch.video_id == "slow":
            self.release.wait(10)
        return [Record(t=0.0)]


class Upstream(StrictRecord):
    upstream_records: int | None


class Doubled(DerivedAnalyzer[AnalyzerConfig, FramesInput, Upstream, Summary]):
    key: ClassVar[str] = "doubled"
    group: ClassVar[Group] = Group.GPU_LIGHT
    requires: ClassVar[tuple[str, ...]] = ("count",)
    inputs = FramePolicy()
    record_model = Upstream

    def __init__(self, config: AnalyzerConfig | None = None) -> None:
        super().__init__(config)
        self.seen: Mapping[str, AnalyzerOutcome] = {}

    def derive(self, batch: FramesInput, upstream: Mapping[str, AnalyzerOutcome]
               ) -> list[Upstream]:
        self.seen = upstream
        counted = upstream.get("count")
        n = len(counted.records) if counted and counted.status is AnalyzerStatus.OK else None
        return [Upstream(t=0.0, upstream_records=n)]


class Point(StrictRecord):
    value: int


class Typed(Analyzer[AnalyzerConfig, FramesInput, Point, Summary]):
    key: ClassVar[str] = "typed"
    group: ClassVar[Group] = Group.GPU_LIGHT
    inputs = FramePolicy()
    record_model = Point

    def __init__(self, output: Sequence[Any]) -> None:
        super().__init__()
        self.output = output

    def process(self, batch: FramesInput) -> Sequence[Point]:
        return self.output


def dumped(outcome: AnalyzerOutcome) -> list[dict[str, Any]]:
    return [r.model_dump(mode="json") for r in outcome.records]


def test_frames_are_cut_to_the_analyzers_batch_size() -> None:
    count = Count()
    (run,) = runner(count).run(frames(5))
    assert count.calls == [2, 2, 1]
    assert [r.t for r in run.records] == [0.0, 0.5, 1.0, 1.5, 2.0]


def test_the_batch_size_setting_overrides_the_class_default() -> None:
    count = Count(CountConfig(batch_size=3))
    runner(count).run(frames(5))
    assert count.calls == [3, 2]


def test_a_slow_analyzer_times_out_and_fails_fast_until_it_returns() -> None:
    sleepy, count = Sleepy(AnalyzerConfig(timeout_s=0.2)), Count()
    r = runner(sleepy, count)
    started = time.perf_counter()
    slow, counted = r.run(frames(1, "slow"))
    assert slow.status is AnalyzerStatus.FAILED
    assert slow.reason == "TimeoutError: timed out after 0.2s"
    assert counted.status is AnalyzerStatus.OK  # the others proceed
    assert time.perf_counter() - started < 2
    assert r.stuck == ["sleepy"]

    busy, _ = r.run(frames(1, "next"))  # fails at once rather than queueing behind it
    assert busy.status is AnalyzerStatus.FAILED
    assert "still busy" in (busy.reason or "")

    sleepy.release.set()
    deadline = time.monotonic() + 5
    while r.stuck and time.monotonic() < deadline:
        time.sleep(0.01)
    recovered, _ = r.run(frames(1, "after"))
    assert recovered.status is AnalyzerStatus.OK
    r.close()


def test_derived_analyzers_run_after_what_they_require_and_see_its_run() -> None:
    doubled, count = Doubled(), Count()
    r = runner(doubled, count)  # listed first, runs second
    assert r.keys == ["count", "doubled"]
    runs = {run.analyzer: run for run in r.run(frames(3))}
    assert dumped(runs["doubled"]) == [{"t": 0.0, "upstream_records": 3}]
    assert set(doubled.seen) == {"count"}


def test_a_derived_analyzer_without_its_input_still_runs() -> None:
    doubled = Doubled()
    (run,) = runner(doubled).run(frames(2))
    assert run.status is AnalyzerStatus.OK
    assert dumped(run) == [{"t": 0.0, "upstream_records": None}]


def test_cycles_between_analyzers_are_refused() -> None:
    class A(Doubled):
        key: ClassVar[str] = "a"
        requires: ClassVar[tuple[str, ...]] = ("b",)

    class B(Doubled):
        key: ClassVar[str] = "b"
        requires: ClassVar[tuple[str, ...]] = ("a",)

    with pytest.raises(ConfigError, match="cycle"):
        dependency_order([A(), B()])


def test_records_are_checked_against_the_declared_type() -> None:
    good = runner(Typed([Point(t=1.0, value=2), {"t": 2.0, "value": 3}])).run(frames(1))[0]
    assert good.status is AnalyzerStatus.OK
    assert dumped(good) == [{"t": 1.0, "value": 2}, {"t": 2.0, "value": 3}]
    assert all(type(r) is Point for r in good.records)  # typed through the runner

    extra = runner(Typed([{"t": 1.0, "value": 2, "surprise": 1}])).run(frames(1))[0]
    assert extra.status is AnalyzerStatus.FAILED
    assert "does not match Point" in (extra.reason or "")

    negative = runner(Typed([{"t": -0.5, "value": 1}])).run(frames(1))[0]
    assert negative.status is AnalyzerStatus.FAILED


def test_untyped_records_still_need_a_video_time() -> None:
    (run,) = runner(Typed([{"value": 1}])).run(frames(1))
    assert run.status is AnalyzerStatus.FAILED
    assert "t" in (run.reason or "")


def test_a_failing_warm_up_fails_only_that_analyzer() -> None:
    class Cold(Count):
        key: ClassVar[str] = "cold"

        def warm_up(self) -> None:
            raise RuntimeError("no GPU memory")

    cold, count = Cold(), Count()
    runs = {run.analyzer: run for run in runner(cold, count).run(frames(1))}
    assert runs["cold"].status is AnalyzerStatus.FAILED
    assert runs["cold"].reason == "load failed: RuntimeError: no GPU memory"
    assert runs["count"].status is AnalyzerStatus.OK


def test_device_is_resolved_once_and_may_be_set_per_analyzer() -> None:
    seen: dict[str, str] = {}

    class Probe(Count):
        key: ClassVar[str] = "probe"

        def load(self, context: LoadContext) -> None:
            seen[self.config.label] = context.device

    runner(Probe(CountConfig(label="service")), Probe(CountConfig(label="own", device="cpu:0")),
           device="auto")
    # "auto" means CUDA where torch sees one, else CPU; resolved before load() sees it.
    assert seen == {"service": resolve_device("auto"), "own": "cpu:0"}
    assert seen["service"] in ("cpu", "cuda")


def test_settings_come_from_a_toml_file_and_json_with_json_winning(tmp_path: Path,
                                                                   monkeypatch: Any) -> None:
    file = tmp_path / "analyzers.toml"
    file.write_text('[color]\nbatch_size = 4\ntimeout_s = 30\n\n[quality]\ntimeout_s = 5\n')
    monkeypatch.setenv("TIKTOK_ANALYZERS_SETTINGS_FILE", str(file))
    monkeypatch.setenv("TIKTOK_ANALYZERS_SETTINGS", json.dumps({"color": {"timeout_s": 60}}))
    settings = PipelineSettings()
    assert settings.settings_for_group("gpu_light") == {
        "color": {"batch_size": 4, "timeout_s": 60}, "quality": {"timeout_s": 5}}
    assert settings.settings_for_group("gpu_heavy") == {}


def test_settings_for_an_analyzer_that_is_not_enabled_are_an_error(monkeypatch: Any) -> None:
    monkeypatch.setenv("TIKTOK_ANALYZERS_SETTINGS", json.dumps({"colour": {"timeout_s": 1}}))
    with pytest.raises(ValueError, match="not enabled: \\['colour'\\]"):
        PipelineSettings()


def test_invalid_analyzer_settings_name_the_analyzer(monkeypatch: Any) -> None:
    monkeypatch.setitem(discover(), "count", Count)
    with pytest.raises(ConfigError, match="invalid settings for analyzer 'count'"):
        build_analyzers(["count"], {"count": {"lable": "typo"}})
    with pytest.raises(ConfigError, match="unknown analyzer 'nope'"):
        build_analyzers(["nope"])


def test_make_runner_switches_model_libraries_offline(tmp_path: Path, monkeypatch: Any) -> None:
    for name in OFFLINE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setitem(discover(), "count", Count)
    r = make_runner(Group.GPU_LIGHT, ["count"], ModelStore(tmp_path), "cpu",
                    {"count": {"label": "y"}})
    import os

    assert {name: os.environ.get(name) for name in OFFLINE_ENV} == OFFLINE_ENV
    (run,) = r.run(frames(1))
    assert dumped(run) == [{"t": 0.0, "label": "y"}]
