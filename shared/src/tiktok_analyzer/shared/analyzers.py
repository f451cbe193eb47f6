"""The analyzer plugin interface, its registry, and the runner that isolates failures.

An analyzer declares its ``key``, ``group``, ``version`` and ``batch_size``, and implements
``load()`` (heavy imports and weights go here, never at module import) and ``process(batch)``,
which returns time-stamped records (``t`` in seconds from the video start; see ``results``).
Everything else has a default: an optional ``warm_up()`` and ``close()``, a pydantic config
(``config_model``), a record type (``record_model``), and ``requires`` for analyzers derived
from another's output on the same batch (``DerivedAnalyzer``). The runner adds what every
analyzer needs and none should write: device choice, batching, a timeout, error isolation.
The same analyzer objects run under Kafka and in one process.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
from opentelemetry import trace
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tiktok_analyzer.shared.errors import ConfigError, WeightsMissing
from tiktok_analyzer.shared.events import AnalyzerRun, AnalyzerStatus, Group
from tiktok_analyzer.shared.models import enforce_offline, resolve_device
from tiktok_analyzer.shared.results import Record

log = logging.getLogger(__name__)
tracer = trace.get_tracer("tiktok_analyzer.analyzers")


@dataclass(frozen=True)
class DecodedFrame:
    index: int
    t: float
    rgb: np.ndarray  # (height, width, 3) uint8


@dataclass(frozen=True)
class FramesInput:
    video_id: str
    batch_index: int
    frames: Sequence[DecodedFrame]


@dataclass(frozen=True)
class AudioInput:
    """One audio chunk. Chunks overlap: the first ``overlap_s`` seconds of ``samples`` repeat
    the previous chunk's tail. An analyzer may use them as context (onset and beat tracking
    need a lead-in) but must report only on the samples it owns, from ``owned_start_s`` on,
    so that nothing is counted twice across chunks (see ``AudioChunker`` in the sampler)."""

    video_id: str
    batch_index: int
    start_s: float
    sample_rate: int
    samples: np.ndarray  # mono float32 in [-1, 1]
    overlap_s: float = 0.0

    @property
    def overlap_samples(self) -> int:
        return min(len(self.samples), max(0, round(self.overlap_s * self.sample_rate)))

    @property
    def owned(self) -> np.ndarray:
        """The samples after the overlap: what this chunk reports on."""
        return self.samples[self.overlap_samples:]

    @property
    def owned_start_s(self) -> float:
        return self.start_s + self.overlap_samples / self.sample_rate


AnalyzerInput = FramesInput | AudioInput


class AnalyzerConfig(BaseModel):
    """Base for every analyzer's settings; subclasses add fields with defaults and a ``kind``
    tag (``Literal["<key>"]``). The fields here are the runner's, common to every analyzer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout_s: float = Field(
        default=300.0, gt=0,
        description="Longest one batch may take; past it the run is `failed` and later "
                    "batches fail fast until the stuck call returns")
    device: str | None = Field(
        default=None, description="Overrides the service's device (auto, cpu, cuda[:N])")
    batch_size: int | None = Field(
        default=None, ge=1, description="Overrides the analyzer's frames per call")


@dataclass(frozen=True)
class LoadContext:
    """What ``load()`` may use: where weights live and which device to run on (already
    resolved: ``cpu`` or ``cuda[:N]``, never ``auto``)."""

    model_store: Any  # tiktok_analyzer.shared.models.ModelStore; Any avoids an import cycle
    device: str


class Analyzer(ABC):
    key: ClassVar[str]
    group: ClassVar[Group]
    version: ClassVar[str] = "1"
    batch_size: ClassVar[int] = 8
    config_model: ClassVar[type[AnalyzerConfig]] = AnalyzerConfig
    record_model: ClassVar[type[Record]] = Record
    requires: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: AnalyzerConfig | None = None) -> None:
        self.config = config if config is not None else self.config_model()
        self.model_id: str | None = None
        self.model_revision: str | None = None
        self.device: str = "cpu"

    def load(self, context: LoadContext) -> None:  # noqa: B027 - weight-free analyzers need none
        """Load weights and heavy libraries. Raise ``WeightsMissing`` when weights are absent."""

    def warm_up(self) -> None:  # noqa: B027 - optional hook
        """Run once after ``load()`` so that the first real batch does not pay for lazy
        compilation or allocation (numba kernels, CUDA contexts)."""

    @abstractmethod
    def process(self, batch: Any) -> Sequence[Record | dict[str, Any]]:
        """Analyze one batch and return time-stamped records."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release models and device memory."""

    @property
    def effective_batch_size(self) -> int:
        return self.config.batch_size or self.batch_size


class DerivedAnalyzer(Analyzer):
    """An analyzer built on the output of others in its group (``requires``) for the same
    batch, e.g. speech rate from the transcript. The runner orders the group so that required
    analyzers run first and hands their runs over; a required analyzer that is not enabled,
    skipped or failed is simply absent from ``upstream`` or not ``ok`` there, and the derived
    analyzer decides what it can still report."""

    @abstractmethod
    def derive(self, batch: Any, upstream: Mapping[str, AnalyzerRun]
               ) -> Sequence[Record | dict[str, Any]]:
        """Analyze one batch given the required analyzers' runs on it."""

    def process(self, batch: Any) -> Sequence[Record | dict[str, Any]]:
        return self.derive(batch, {})


REGISTRY: dict[str, type[Analyzer]] = {}


def register(cls: type[Analyzer]) -> type[Analyzer]:
    if cls.key in REGISTRY and REGISTRY[cls.key] is not cls:
        raise ConfigError(f"two analyzers claim the key {cls.key!r}")
    REGISTRY[cls.key] = cls
    return cls


def dependency_order(analyzers: Sequence[Analyzer]) -> list[Analyzer]:
    """Analyzers ordered so that each runs after those it requires (stable otherwise)."""
    by_key = {a.key: a for a in analyzers}
    ordered: list[Analyzer] = []
    visiting: set[str] = set()

    def visit(analyzer: Analyzer) -> None:
        if analyzer in ordered:
            return
        if analyzer.key in visiting:
            raise ConfigError(f"analyzers require one another in a cycle at {analyzer.key!r}")
        visiting.add(analyzer.key)
        for key in analyzer.requires:
            if key in by_key:
                visit(by_key[key])
        visiting.discard(analyzer.key)
        ordered.append(analyzer)

    for analyzer in analyzers:
        visit(analyzer)
    return ordered


def split_batch(batch: AnalyzerInput, size: int) -> list[AnalyzerInput]:
    """Frames in slices of ``size`` (an analyzer's batch size); an audio chunk stays whole."""
    if isinstance(batch, FramesInput) and len(batch.frames) > size:
        return [replace(batch, frames=batch.frames[i:i + size])
                for i in range(0, len(batch.frames), size)]
    return [batch]


class _Worker:
    """One analyzer's own thread. Python cannot stop a thread, so a call that overruns its
    timeout is left to finish; until it does, the analyzer's next batches fail at once with
    the reason (bounded, visible) instead of queueing behind it. ``stuck`` feeds readiness."""

    def __init__(self, key: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"analyzer-{key}")
        self._overrun: Future[Any] | None = None

    @property
    def stuck(self) -> bool:
        return self._overrun is not None and not self._overrun.done()

    def call(self, fn: Any, timeout_s: float) -> Any:
        if self.stuck:
            raise TimeoutError("still busy with an earlier batch that overran its timeout")
        self._overrun = None
        future = self._pool.submit(fn)
        try:
            return future.result(timeout=timeout_s)
        except FutureTimeout:
            self._overrun = future
            raise TimeoutError(f"timed out after {timeout_s:g}s") from None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class GroupRunner:
    """Runs one group's analyzers on each batch; one analyzer failing never stops the others."""

    def __init__(self, group: Group, analyzers: Iterable[Analyzer], context: LoadContext) -> None:
        self.group = group
        self.analyzers = dependency_order(list(analyzers))
        for analyzer in self.analyzers:
            if analyzer.group is not group:
                raise ConfigError(f"{analyzer.key} belongs to {analyzer.group}, not {group}")
        self.context = context
        self._unavailable: dict[str, tuple[AnalyzerStatus, str]] = {}
        self._workers = {a.key: _Worker(a.key) for a in self.analyzers}
        self.loaded = False

    @property
    def keys(self) -> list[str]:
        return [a.key for a in self.analyzers]

    @property
    def stuck(self) -> list[str]:
        """Analyzers whose last batch overran its timeout and is still running."""
        return [key for key, worker in self._workers.items() if worker.stuck]

    def unavailable(self) -> dict[str, tuple[AnalyzerStatus, str]]:
        return dict(self._unavailable)

    def load(self) -> None:
        for analyzer in self.analyzers:
            started = time.perf_counter()
            device = resolve_device(analyzer.config.device or self.context.device)
            analyzer.device = device
            try:
                analyzer.load(replace(self.context, device=device))
                analyzer.warm_up()
            except WeightsMissing as exc:
                self._unavailable[analyzer.key] = (AnalyzerStatus.SKIPPED, str(exc))
                log.warning("analyzer %s skipped: %s", analyzer.key, exc)
            except Exception as exc:
                self._unavailable[analyzer.key] = (
                    AnalyzerStatus.FAILED,
                    f"load failed: {type(exc).__name__}: {exc}",
                )
                log.exception("analyzer %s failed to load", analyzer.key)
            else:
                log.info("analyzer %s loaded on %s in %.2fs", analyzer.key, device,
                         time.perf_counter() - started)
        self.loaded = True

    def run(self, batch: AnalyzerInput) -> list[AnalyzerRun]:
        runs: dict[str, AnalyzerRun] = {}
        for analyzer in self.analyzers:
            runs[analyzer.key] = self._run_one(analyzer, batch, runs)
        return list(runs.values())

    def _run_one(self, analyzer: Analyzer, batch: AnalyzerInput,
                 earlier: Mapping[str, AnalyzerRun]) -> AnalyzerRun:
        common: dict[str, Any] = {
            "analyzer": analyzer.key,
            "version": analyzer.version,
            "model_id": analyzer.model_id,
            "model_revision": analyzer.model_revision,
        }
        if analyzer.key in self._unavailable:
            status, reason = self._unavailable[analyzer.key]
            return AnalyzerRun(**common, status=status, reason=reason, elapsed_s=0.0)
        if isinstance(analyzer, DerivedAnalyzer):
            upstream = {key: earlier[key] for key in analyzer.requires if key in earlier}

            def work(part: AnalyzerInput) -> Sequence[Any]:
                return analyzer.derive(part, upstream)
        else:
            work = analyzer.process
        started = time.perf_counter()
        with tracer.start_as_current_span(
                f"analyze {analyzer.key}",
                attributes={"analyzer.key": analyzer.key, "analyzer.group": str(self.group),
                            "analyzer.device": analyzer.device,
                            "batch.index": batch.batch_index}) as span:
            try:
                records: list[dict[str, Any]] = []
                for part in split_batch(batch, analyzer.effective_batch_size):
                    output = self._workers[analyzer.key].call(
                        lambda part=part: work(part), analyzer.config.timeout_s)
                    records.extend(normalise(analyzer.record_model, output))
            except Exception as exc:
                span.set_status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}")
                log.log(logging.WARNING if isinstance(exc, TimeoutError) else logging.ERROR,
                        "analyzer %s failed on %s batch %d: %s", analyzer.key, batch.video_id,
                        batch.batch_index, exc, exc_info=not isinstance(exc, TimeoutError))
                return AnalyzerRun(
                    **common,
                    status=AnalyzerStatus.FAILED,
                    reason=f"{type(exc).__name__}: {exc}",
                    elapsed_s=time.perf_counter() - started,
                )
        return AnalyzerRun(
            **common,
            status=AnalyzerStatus.OK,
            elapsed_s=time.perf_counter() - started,
            records=records,
        )

    def close(self) -> None:
        for analyzer in self.analyzers:
            try:
                analyzer.close()
            except Exception:
                log.exception("analyzer %s failed to close", analyzer.key)
        for worker in self._workers.values():
            worker.close()


def normalise(model: type[Record], output: Iterable[Record | dict[str, Any]]
              ) -> list[dict[str, Any]]:
    """Records as JSON-ready dicts, each checked against the analyzer's record type."""
    records = []
    for item in output:
        try:
            record = item if isinstance(item, model) else model.model_validate(
                item.model_dump() if isinstance(item, BaseModel) else item)
        except ValidationError as exc:
            raise ValueError(f"record does not match {model.__name__}: {exc}") from exc
        records.append(record.model_dump(mode="json"))
    return records


def build_analyzers(keys: Sequence[str], configs: Mapping[str, Mapping[str, Any]] | None = None
                    ) -> list[Analyzer]:
    """Instantiate registered analyzers by key, validating each one's settings."""
    configs = configs or {}
    analyzers = []
    for key in keys:
        if key not in REGISTRY:
            raise ConfigError(f"unknown analyzer {key!r}; known: {sorted(REGISTRY)}")
        cls = REGISTRY[key]
        try:
            config = cls.config_model.model_validate(dict(configs.get(key, {})))
        except ValidationError as exc:
            raise ConfigError(f"invalid settings for analyzer {key!r}: {exc}") from exc
        analyzers.append(cls(config))
    return analyzers


def make_runner(group: Group, keys: Sequence[str], model_store: Any, device: str,
                configs: Mapping[str, Mapping[str, Any]] | None = None) -> GroupRunner:
    enforce_offline()
    runner = GroupRunner(group, build_analyzers(keys, configs),
                         LoadContext(model_store=model_store, device=device))
    runner.load()
    return runner
