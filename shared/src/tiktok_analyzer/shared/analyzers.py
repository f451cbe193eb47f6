"""The analyzer plugin interface, its registry, and the runner that isolates failures.

An analyzer declares its ``key``, ``group``, ``version`` and ``batch_size``, and implements
``load()`` (heavy imports and weights go here, never at module import) and ``process(batch)``,
which returns time-stamped records (each a dict with ``t`` in seconds from the video start).
Everything else has a default. The same analyzer objects run under Kafka and in one process.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from tiktok_analyzer.shared.errors import ConfigError, WeightsMissing
from tiktok_analyzer.shared.events import AnalyzerRun, AnalyzerStatus, Group

log = logging.getLogger(__name__)


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
    """Base for every analyzer's settings; subclasses add fields with defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class LoadContext:
    """What ``load()`` may use: where weights live and which device to run on."""

    model_store: Any  # tiktok_analyzer.shared.models.ModelStore; Any avoids an import cycle
    device: str


class Analyzer(ABC):
    key: ClassVar[str]
    group: ClassVar[Group]
    version: ClassVar[str] = "1"
    batch_size: ClassVar[int] = 8
    config_model: ClassVar[type[AnalyzerConfig]] = AnalyzerConfig

    def __init__(self, config: AnalyzerConfig | None = None) -> None:
        self.config = config if config is not None else self.config_model()
        self.model_id: str | None = None
        self.model_revision: str | None = None

    def load(self, context: LoadContext) -> None:  # noqa: B027 - weight-free analyzers need none
        """Load weights and heavy libraries. Raise ``WeightsMissing`` when weights are absent."""

    @abstractmethod
    def process(self, batch: Any) -> list[dict[str, Any]]:
        """Analyze one batch and return time-stamped records."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release models and device memory."""


REGISTRY: dict[str, type[Analyzer]] = {}


def register(cls: type[Analyzer]) -> type[Analyzer]:
    if cls.key in REGISTRY and REGISTRY[cls.key] is not cls:
        raise ConfigError(f"two analyzers claim the key {cls.key!r}")
    REGISTRY[cls.key] = cls
    return cls


class GroupRunner:
    """Runs one group's analyzers on each batch; one analyzer failing never stops the others."""

    def __init__(self, group: Group, analyzers: Iterable[Analyzer], context: LoadContext) -> None:
        self.group = group
        self.analyzers = list(analyzers)
        for analyzer in self.analyzers:
            if analyzer.group is not group:
                raise ConfigError(f"{analyzer.key} belongs to {analyzer.group}, not {group}")
        self.context = context
        self._unavailable: dict[str, tuple[AnalyzerStatus, str]] = {}

    @property
    def keys(self) -> list[str]:
        return [a.key for a in self.analyzers]

    def load(self) -> None:
        for analyzer in self.analyzers:
            started = time.perf_counter()
            try:
                analyzer.load(self.context)
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
                log.info("analyzer %s loaded in %.2fs", analyzer.key, time.perf_counter() - started)

    def run(self, batch: AnalyzerInput) -> list[AnalyzerRun]:
        return [self._run_one(analyzer, batch) for analyzer in self.analyzers]

    def _run_one(self, analyzer: Analyzer, batch: AnalyzerInput) -> AnalyzerRun:
        common: dict[str, Any] = {
            "analyzer": analyzer.key,
            "version": analyzer.version,
            "model_id": analyzer.model_id,
            "model_revision": analyzer.model_revision,
        }
        if analyzer.key in self._unavailable:
            status, reason = self._unavailable[analyzer.key]
            return AnalyzerRun(**common, status=status, reason=reason, elapsed_s=0.0)
        started = time.perf_counter()
        try:
            records = analyzer.process(batch)
        except Exception as exc:
            log.exception("analyzer %s failed on %s batch %d", analyzer.key, batch.video_id,
                          batch.batch_index)
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
            analyzer.close()


def build_analyzers(keys: Sequence[str], configs: dict[str, dict[str, Any]] | None = None
                    ) -> list[Analyzer]:
    """Instantiate registered analyzers by key, validating each one's settings."""
    configs = configs or {}
    analyzers = []
    for key in keys:
        if key not in REGISTRY:
            raise ConfigError(f"unknown analyzer {key!r}; known: {sorted(REGISTRY)}")
        cls = REGISTRY[key]
        analyzers.append(cls(cls.config_model.model_validate(configs.get(key, {}))))
    return analyzers


def make_runner(group: Group, keys: Sequence[str], model_store: Any, device: str,
                configs: dict[str, dict[str, Any]] | None = None) -> GroupRunner:
    runner = GroupRunner(group, build_analyzers(keys, configs),
                         LoadContext(model_store=model_store, device=device))
    runner.load()
    return runner
