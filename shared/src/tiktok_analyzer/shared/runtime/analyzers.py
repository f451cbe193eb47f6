"""The analyzer plugin interface and the runner that isolates failures.

An analyzer is one module in its group's ``analyzers/`` package (found by ``plugins.discover``)
that owns everything about it:

* what it is: ``key``, ``group``, ``version``, a one-line description (the module docstring),
  whether it is on by default, and the model-lock entry of its weights (``model_entry``);
* what it consumes: ``inputs``, a ``FramePolicy`` (how often, shot starts, resolution) or an
  ``AudioPolicy``; the sampler sends each group the union of its analyzers' needs and the
  runner hands each analyzer only its own frames;
* its types, as the generic parameters of ``Analyzer[Config, Input, Record, Summary]``: a
  pydantic config whose ``kind`` tag discriminates the group's settings union, a record model,
  a summary model;
* its work: ``load()`` (heavy imports and weights, never at module import) and
  ``process(batch)``, which returns time-stamped records (``t`` in seconds from the video
  start; see ``results``); derived analyzers implement ``derive(batch, upstream)`` instead;
* its place in the report: ``summarize(records)`` (the video-level summary; an analyzer that
  also needs the whole video's shots or size overrides ``summarize_with(records, video)``),
  ``timeline()`` (events on the report's timeline), and the headline metrics it fills
  (``headline`` names the fields, ``report_metrics()`` gives their values).

The runner adds what every analyzer needs and none should write: device choice, batching (frames
of several batches, possibly of several videos, packed into each model call), halving a call
that runs out of GPU memory, a timeout, error isolation. Records stay typed through the
runner; ``AnalyzerOutcome.to_event`` serialises them at the transport edge. The same analyzer
objects run under Kafka and in one process.
"""

from __future__ import annotations

import functools
import itertools
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import numpy as np
from opentelemetry import trace
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tiktok_analyzer.shared.contracts.events import (
    AnalyzerRun,
    AnalyzerStatus,
    DetectedShot,
    Group,
)
from tiktok_analyzer.shared.contracts.results import Record, Summary
from tiktok_analyzer.shared.errors import ConfigError, WeightsMissing
from tiktok_analyzer.shared.runtime.gpu import (
    cap_memory,
    free_accelerator_memory,
    is_out_of_memory,
)
from tiktok_analyzer.shared.runtime.models import enforce_offline, resolve_device

if TYPE_CHECKING:
    from tiktok_analyzer.shared.contracts.report import TimelineEvent
    from tiktok_analyzer.shared.runtime.models import ModelStore

log = logging.getLogger(__name__)
tracer = trace.get_tracer("tiktok_analyzer.analyzers")


# --- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecodedFrame:
    index: int
    t: float
    rgb: np.ndarray  # (height, width, 3) uint8
    analyzers: frozenset[str] = frozenset()
    """Keys of the analyzers this frame was sampled for; empty means every analyzer."""


@dataclass(frozen=True)
class DecodedSignals:
    """The sampler's measurements of every decoded frame of a span (the wire form is
    ``FrameSignals``), for analyzers whose policy asks for them (``FramePolicy(signals=True)``):
    what needs every frame rather than the sampled ones, such as cuts, motion and camera
    motion. Frame ``start_index + i`` is shown at ``times[i]`` and its thumbnail is
    ``thumbs[lead_in + i]``; the ``lead_in`` thumbnails before it belong to the frames just
    before the span."""

    start_index: int
    times: np.ndarray  # (n,) seconds
    end_t: float
    cuts: frozenset[int]
    """Frames (indices, the lead-in's included) that start a shot with a hard cut."""
    thumbs: np.ndarray  # (lead_in + n, height, width) uint8: upright luma, square pixels
    lead_in: int = 0
    shots: Sequence[DetectedShot] = ()
    """Shots whose end was settled since the previous span."""


@dataclass(frozen=True)
class FramesInput:
    video_id: str
    batch_index: int
    frames: Sequence[DecodedFrame]
    signals: DecodedSignals | None = None

    def for_analyzer(self, key: str, signals: bool = False) -> FramesInput:
        """Only the frames sampled for ``key`` (its frame policy), and the signals if it
        asks for them."""
        mine = [f for f in self.frames if not f.analyzers or key in f.analyzers]
        kept = self.signals if signals else None
        if len(mine) == len(self.frames) and kept is self.signals:
            return self
        return replace(self, frames=mine, signals=kept)


ItemT = TypeVar("ItemT")


def split_per_batch(batches: Sequence[FramesInput], per_frame: Sequence[ItemT]
                    ) -> list[Sequence[ItemT]]:
    """``per_frame`` (one item per frame of all ``batches``, in order: what a model call over
    their frames gives) split back into one list per batch, for ``process_many``."""
    bounds = list(itertools.accumulate((len(b.frames) for b in batches), initial=0))
    return [list(per_frame[a:b]) for a, b in itertools.pairwise(bounds)]


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


@dataclass(frozen=True)
class FramePolicy:
    """Which decoded frames an analyzer wants. ``every_s``: one frame every N seconds on a
    fixed grid from t=0 (None: the group's default, ``TIKTOK_SAMPLING_HEAVY_INTERVAL_S`` or
    ``1 / TIKTOK_SAMPLING_LIGHT_FPS``); ``shot_starts``: also the first frame of every shot;
    ``max_side``: the longest side it needs (None: the group's default). A group's frames are
    rendered at the largest side any of its analyzers asks for. ``signals`` (gpu_light): also
    the sampler's measurements of every decoded frame (``DecodedSignals``); ``frames=False``:
    those alone, no sampled frames."""

    every_s: float | None = None
    shot_starts: bool = False
    max_side: int | None = None
    signals: bool = False
    frames: bool = True

    def describe(self) -> str:
        every = "signals of every frame"
        if not self.frames:
            return every
        rate = "group rate" if self.every_s is None else (
            f"{1 / self.every_s:g} fps" if self.every_s < 1 else f"1 frame / {self.every_s:g} s")
        side = f", {self.max_side} px" if self.max_side else ""
        return (f"frames: {rate}{' + shot starts' if self.shot_starts else ''}{side}"
                + (f" + {every}" if self.signals else ""))


@dataclass(frozen=True)
class AudioPolicy:
    """Audio chunks (mono PCM, ``TIKTOK_SAMPLING_AUDIO_*``): every chunk of the video."""

    def describe(self) -> str:
        return "audio: every chunk"


InputPolicy = FramePolicy | AudioPolicy


@dataclass(frozen=True)
class VideoFacts:
    """What the aggregator knows of the whole video (the sampler's manifest) when it summarizes:
    what a summary needs beyond its own records, such as per-shot figures."""

    duration_s: float | None = None
    shot_starts_s: tuple[float, ...] = ()
    """Start of every shot the sampler found, 0.0 (the first frame) included."""
    width: int | None = None
    """Upright display size of the source (None: no video stream)."""
    height: int | None = None


# --- the plugin ---------------------------------------------------------------------------------


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
    every_s: float | None = Field(
        default=None, gt=0,
        description="Frame analyzers: one frame every N seconds, overriding the analyzer's "
                    "frame policy")


@dataclass(frozen=True)
class LoadContext:
    """What ``load()`` may use: where weights live and which device to run on (already
    resolved: ``cpu`` or ``cuda[:N]``, never ``auto``)."""

    model_store: ModelStore
    device: str


ConfigT = TypeVar("ConfigT", bound=AnalyzerConfig)
InputT = TypeVar("InputT", FramesInput, AudioInput)
RecordT = TypeVar("RecordT", bound=Record)
SummaryT = TypeVar("SummaryT", bound=Summary)


class Analyzer(ABC, Generic[ConfigT, InputT, RecordT, SummaryT]):
    key: ClassVar[str]
    group: ClassVar[Group]
    version: ClassVar[str] = "1"
    batch_size: ClassVar[int] = 8
    inputs: ClassVar[InputPolicy]
    config_model: ClassVar[type[AnalyzerConfig]] = AnalyzerConfig
    record_model: ClassVar[type[Record]] = Record
    summary_model: ClassVar[type[Summary]] = Summary
    requires: ClassVar[tuple[str, ...]] = ()
    enabled_by_default: ClassVar[bool] = True
    model_entry: ClassVar[str | None] = None
    """The model-lock entry of its weights; None for a weight-free analyzer."""
    headline: ClassVar[tuple[str, ...]] = ()
    """Fields of the report's headline block (``ReportSummary``) this analyzer fills."""

    def __init__(self, config: ConfigT | None = None) -> None:
        self.config: ConfigT = (config if config is not None
                                else self.config_model())  # type: ignore[assignment]
        self.model_id: str | None = None
        self.model_revision: str | None = None
        self.device: str = "cpu"

    def model_entries(self) -> tuple[str, ...]:
        """The lock entries this configuration loads (``model_entry`` unless a setting picks
        another or adds one); ``tiktok-analyzer analyzers`` reports their state."""
        return (self.model_entry,) if self.model_entry else ()

    @classmethod
    def description(cls) -> str:
        """The first sentence of the analyzer module's docstring (its one-line description),
        without the leading ````key``: ````."""
        import sys

        doc = (sys.modules[cls.__module__].__doc__ or cls.__doc__ or "").strip()
        first = " ".join(doc.split("\n\n")[0].split())
        return first.removeprefix(f"``{cls.key}``: ")

    @classmethod
    def frame_policy(cls, config: AnalyzerConfig) -> FramePolicy | None:
        """The frames this analyzer wants with ``config`` (None for audio analyzers)."""
        if not isinstance(cls.inputs, FramePolicy):
            return None
        return (replace(cls.inputs, every_s=config.every_s) if config.every_s is not None
                else cls.inputs)

    def load(self, context: LoadContext) -> None:
        """Load weights and heavy libraries. Raise ``WeightsMissing`` when weights are absent."""

    def warm_up(self) -> None:
        """Run once after ``load()`` so that the first real batch does not pay for lazy
        compilation or allocation (numba kernels, CUDA contexts)."""

    @abstractmethod
    def process(self, batch: InputT) -> Sequence[RecordT]:
        """Analyze one batch and return time-stamped records."""

    def process_many(self, batches: Sequence[InputT]) -> Sequence[Sequence[RecordT]]:
        """Analyze several inputs in one call, possibly of different videos, and return each
        one's records, in order. The runner packs the frames of the batches in flight into
        calls of at most ``effective_batch_size`` frames (``pack_calls``), so a model that
        takes a list (YOLO, a transformers processor) runs them as one forward pass: override
        this for such a model. The default analyzes them one after another."""
        return [self.process(batch) for batch in batches]

    def close(self) -> None:
        """Release models and device memory."""

    @property
    def effective_batch_size(self) -> int:
        return self.config.batch_size or self.batch_size

    # --- the report: called by the aggregator, which never calls load() ----------------------

    def summarize(self, records: Sequence[RecordT]) -> SummaryT:
        """The video-level summary from every record of the video, sorted by ``t``. An
        analyzer that overrides only ``summarize_with`` gets it here without the video's facts
        (no shots), so it need not write this method too."""
        if type(self).summarize_with is not Analyzer.summarize_with:
            return self.summarize_with(records, VideoFacts())
        return self.summary_model()  # type: ignore[return-value]

    def summarize_with(self, records: Sequence[RecordT], video: VideoFacts) -> SummaryT:
        """The summary the aggregator puts in the report: ``summarize(records)`` unless the
        analyzer also uses what only the aggregator knows of the whole video (its shots)."""
        return self.summarize(records)

    def timeline(self, summary: SummaryT, records: Sequence[RecordT]) -> list[TimelineEvent]:
        """Events this analyzer puts on the report's timeline."""
        return []

    def report_metrics(self, summary: SummaryT, records: Sequence[RecordT]) -> dict[str, Any]:
        """Values of the declared ``headline`` fields. The default reads each from the summary
        field of the same name."""
        return {name: getattr(summary, name) for name in self.headline}

    # --- typed views of serialised records --------------------------------------------------

    def parse_records(self, records: Iterable[Mapping[str, Any]]) -> list[RecordT]:
        return [self.record_model.model_validate(r) for r in records]  # type: ignore[misc]


class DerivedAnalyzer(Analyzer[ConfigT, InputT, RecordT, SummaryT]):
    """An analyzer built on the output of others in its group (``requires``) for the same
    batch, e.g. speech rate from the transcript. The runner orders the group so that required
    analyzers run first and hands their outcomes over; a required analyzer that is not
    enabled, skipped or failed is absent from ``upstream`` or not ``ok`` there, and the
    derived analyzer decides what it can still report."""

    @abstractmethod
    def derive(self, batch: InputT, upstream: Mapping[str, AnalyzerOutcome]
               ) -> Sequence[RecordT]:
        """Analyze one batch given the required analyzers' outcomes on it."""

    def process(self, batch: InputT) -> Sequence[RecordT]:
        return self.derive(batch, {})


AnyAnalyzer = Analyzer[Any, Any, Any, Any]


# --- outcomes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnalyzerOutcome:
    """One analyzer's output on one batch, records typed; ``to_event`` is the wire form."""

    analyzer: str
    version: str
    status: AnalyzerStatus
    elapsed_s: float
    model_id: str | None = None
    model_revision: str | None = None
    reason: str | None = None
    records: Sequence[Record] = field(default_factory=list)

    def to_event(self) -> AnalyzerRun:
        return AnalyzerRun(
            analyzer=self.analyzer, version=self.version, model_id=self.model_id,
            model_revision=self.model_revision, status=self.status, reason=self.reason,
            elapsed_s=self.elapsed_s, records=[r.model_dump(mode="json") for r in self.records])


def dependency_order(analyzers: Sequence[AnyAnalyzer]) -> list[AnyAnalyzer]:
    """Analyzers ordered so that each runs after those it requires (stable otherwise)."""
    by_key = {a.key: a for a in analyzers}
    ordered: list[AnyAnalyzer] = []
    visiting: set[str] = set()

    def visit(analyzer: AnyAnalyzer) -> None:
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


def work_size(item: AnalyzerInput) -> int:
    """What an input weighs against a call's batch size: its frames; an audio chunk or a
    signals-only input counts one."""
    return max(1, len(item.frames)) if isinstance(item, FramesInput) else 1


@dataclass(frozen=True)
class Piece:
    """A part of one of the batches a runner call analyzes (``owner``: its position)."""

    owner: int
    input: AnalyzerInput

    @property
    def size(self) -> int:
        return work_size(self.input)


@dataclass
class _CallState:
    """What one analyzer's calls on a set of batches produced so far, per batch (owner)."""

    records: dict[int, list[Record]]
    errors: dict[int, str] = field(default_factory=dict)
    elapsed: dict[int, float] = field(default_factory=dict)

    def spent(self, pieces: Sequence[Piece], seconds: float) -> None:
        """A call's time, shared among its batches by their frames."""
        total = sum(p.size for p in pieces)
        for piece in pieces:
            self.elapsed[piece.owner] = (self.elapsed.get(piece.owner, 0.0)
                                         + seconds * piece.size / total)


def _cut(item: FramesInput, count: int) -> tuple[FramesInput, FramesInput]:
    """The first ``count`` frames and the rest; the signals go with the first part."""
    return (replace(item, frames=item.frames[:count]),
            replace(item, frames=item.frames[count:], signals=None))


def pack_calls(items: Sequence[tuple[int, AnalyzerInput]], size: int) -> list[list[Piece]]:
    """Model calls of at most ``size`` frames each, filled in order from the batches' frames:
    a batch that does not fit in what is left of a call is cut, its frames keep their order,
    and an audio chunk (or a signals-only input) is never cut."""
    calls: list[list[Piece]] = []
    current: list[Piece] = []
    room = size
    for owner, item in items:
        rest = item
        while True:
            if room == 0:
                calls.append(current)
                current, room = [], size
            if work_size(rest) <= room:
                current.append(Piece(owner, rest))
                room -= work_size(rest)
                break
            assert isinstance(rest, FramesInput)  # only frames weigh more than one
            head, rest = _cut(rest, room)
            current.append(Piece(owner, head))
            room = 0
    if current:
        calls.append(current)
    return calls


def halve(pieces: Sequence[Piece]) -> tuple[list[Piece], list[Piece]]:
    """A call's pieces in two calls of about half the frames each (a piece cut if need be)."""
    target = max(1, sum(p.size for p in pieces) // 2)
    left: list[Piece] = []
    right: list[Piece] = []
    taken = 0
    for piece in pieces:
        if taken >= target:
            right.append(piece)
        elif taken + piece.size <= target:
            left.append(piece)
            taken += piece.size
        else:
            assert isinstance(piece.input, FramesInput)
            head, tail = _cut(piece.input, target - taken)
            left.append(Piece(piece.owner, head))
            right.append(Piece(piece.owner, tail))
            taken = target
    return left, right


_T = TypeVar("_T")


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

    def call(self, fn: Callable[[], _T], timeout_s: float) -> _T:
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

    def __init__(self, group: Group, analyzers: Iterable[AnyAnalyzer],
                 context: LoadContext) -> None:
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

    def run(self, batch: AnalyzerInput) -> list[AnalyzerOutcome]:
        return self.run_many([batch])[0]

    def run_many(self, batches: Sequence[AnalyzerInput]) -> list[list[AnalyzerOutcome]]:
        """Every analyzer on several batches at once (possibly of different videos): each
        analyzer's model calls take frames from all of them, up to its batch size
        (``pack_calls``). The outcomes are per batch, as if each had run alone: one batch's
        failure fails only that batch (a failed call of several batches is retried batch by
        batch), and a GPU out-of-memory error halves the call and retries (``_execute``)."""
        outcomes: list[dict[str, AnalyzerOutcome]] = [{} for _ in batches]
        for analyzer in self.analyzers:
            for owner, result in enumerate(self._run_analyzer(analyzer, batches, outcomes)):
                outcomes[owner][analyzer.key] = result
        return [list(per_batch.values()) for per_batch in outcomes]

    def _run_analyzer(self, analyzer: AnyAnalyzer, batches: Sequence[AnalyzerInput],
                      earlier: Sequence[Mapping[str, AnalyzerOutcome]]) -> list[AnalyzerOutcome]:
        def outcome(status: AnalyzerStatus, elapsed_s: float, reason: str | None = None,
                    records: Sequence[Record] = ()) -> AnalyzerOutcome:
            return AnalyzerOutcome(
                analyzer=analyzer.key, version=analyzer.version, model_id=analyzer.model_id,
                model_revision=analyzer.model_revision, status=status, reason=reason,
                elapsed_s=elapsed_s, records=list(records))

        if analyzer.key in self._unavailable:
            status, reason = self._unavailable[analyzer.key]
            return [outcome(status, 0.0, reason) for _ in batches]
        work: list[tuple[int, AnalyzerInput]] = []
        for owner, batch in enumerate(batches):
            mine: AnalyzerInput = batch
            if isinstance(batch, FramesInput):
                policy = analyzer.frame_policy(analyzer.config)
                mine = batch.for_analyzer(analyzer.key,
                                          signals=policy is not None and policy.signals)
                if not mine.frames and mine.signals is None:
                    continue  # none of its frames in this batch: ok, no records
            work.append((owner, mine))
        size = analyzer.effective_batch_size
        call: Callable[[list[Piece]], Sequence[Sequence[Record]]]
        if isinstance(analyzer, DerivedAnalyzer):
            # derive() needs each batch's own upstream outcomes: calls never mix batches.
            upstream = [{key: e[key] for key in analyzer.requires if key in e} for e in earlier]
            calls = [c for item in work for c in pack_calls([item], size)]

            def call(pieces: list[Piece]) -> Sequence[Sequence[Record]]:
                return [analyzer.derive(p.input, upstream[p.owner]) for p in pieces]
        else:
            calls = pack_calls(work, size)

            def call(pieces: list[Piece]) -> Sequence[Sequence[Record]]:
                return analyzer.process_many([p.input for p in pieces])
        state = _CallState({owner: [] for owner, _ in work})
        with tracer.start_as_current_span(
                f"analyze {analyzer.key}",
                attributes={"analyzer.key": analyzer.key, "analyzer.group": str(self.group),
                            "analyzer.device": analyzer.device,
                            "batch.index": batches[0].batch_index if batches else -1,
                            "batch.count": len(batches)}) as span:
            for pieces in calls:
                self._execute(analyzer, call, pieces, state)
            if state.errors:
                span.set_status(trace.StatusCode.ERROR, next(iter(state.errors.values())))
        results = []
        for owner in range(len(batches)):
            elapsed = state.elapsed.get(owner, 0.0)
            if owner in state.errors:
                results.append(outcome(AnalyzerStatus.FAILED, elapsed, state.errors[owner]))
            else:
                results.append(outcome(AnalyzerStatus.OK, elapsed,
                                       records=state.records.get(owner, [])))
        return results

    def _execute(self, analyzer: AnyAnalyzer,
                 call: Callable[[list[Piece]], Sequence[Sequence[Record]]],
                 pieces: list[Piece], state: _CallState) -> None:
        """One model call on ``pieces``, its records appended to each owner's, in order.

        * A CUDA out-of-memory error frees the cached memory and retries the call in two
          halves, down to single frames; a frame that alone does not fit fails its batch with
          the reason. The service keeps running, and the next batches try again at full size
          (memory may have been taken by a neighbour only for a while).
        * Another error in a call of several batches retries each batch alone, so that only
          the batch that causes it fails; a timeout does not (the analyzer's thread is still
          busy), and fails every batch of the call.
        """
        live = [p for p in pieces if p.owner not in state.errors]
        if not live:
            return
        started = time.perf_counter()
        try:
            output = self._workers[analyzer.key].call(functools.partial(call, live),
                                                      analyzer.config.timeout_s)
            if len(output) != len(live):
                raise ValueError(f"process_many returned {len(output)} results for "
                                 f"{len(live)} inputs")
            checked = [check_records(analyzer.record_model, out) for out in output]
        except Exception as exc:
            state.spent(live, time.perf_counter() - started)
            owners = sorted({p.owner for p in live})
            if is_out_of_memory(exc):
                free_accelerator_memory()
                frames = sum(p.size for p in live)
                if frames > 1:
                    log.warning("analyzer %s ran out of GPU memory on %d frames; retrying in "
                                "halves", analyzer.key, frames)
                    for half in halve(live):
                        self._execute(analyzer, call, half, state)
                    return
                reason = f"out of GPU memory on a single frame: {type(exc).__name__}: {exc}"
            elif len(owners) > 1 and not isinstance(exc, TimeoutError):
                for owner in owners:
                    self._execute(analyzer, call, [p for p in live if p.owner == owner], state)
                return
            else:
                reason = f"{type(exc).__name__}: {exc}"
            for piece in live:
                batch = piece.input
                log.log(logging.WARNING if isinstance(exc, TimeoutError) else logging.ERROR,
                        "analyzer %s failed on %s batch %d: %s", analyzer.key, batch.video_id,
                        batch.batch_index, exc,
                        exc_info=not isinstance(exc, TimeoutError) and piece is live[0])
                state.errors.setdefault(piece.owner, reason)
            return
        state.spent(live, time.perf_counter() - started)
        for piece, records in zip(live, checked, strict=True):
            state.records[piece.owner].extend(records)

    def close(self) -> None:
        for analyzer in self.analyzers:
            try:
                analyzer.close()
            except Exception:
                log.exception("analyzer %s failed to close", analyzer.key)
        for worker in self._workers.values():
            worker.close()


def check_records(model: type[Record], output: Iterable[Record]) -> list[Record]:
    """Each record checked against the analyzer's record type: always re-validated from its
    fields, so a record built with ``model_construct`` or of another type cannot slip through
    (the cost is small next to any analysis)."""
    records: list[Record] = []
    for item in output:
        try:
            record = model.model_validate(
                item.model_dump() if isinstance(item, BaseModel) else item)
        except ValidationError as exc:
            raise ValueError(f"record does not match {model.__name__}: {exc}") from exc
        records.append(record)
    return records


def build_analyzers(keys: Sequence[str], configs: Mapping[str, Mapping[str, Any]] | None = None
                    ) -> list[AnyAnalyzer]:
    """Instantiate discovered analyzers by key, validating each one's settings."""
    from tiktok_analyzer.shared.runtime.plugins import discover

    known = discover()
    configs = configs or {}
    analyzers: list[AnyAnalyzer] = []
    for key in keys:
        if key not in known:
            raise ConfigError(f"unknown analyzer {key!r}; known: {sorted(known)}")
        cls = known[key]
        try:
            config = cls.config_model.model_validate(dict(configs.get(key, {})))
        except ValidationError as exc:
            raise ConfigError(f"invalid settings for analyzer {key!r}: {exc}") from exc
        analyzers.append(cls(config))
    return analyzers


def make_runner(group: Group, keys: Sequence[str], model_store: ModelStore, device: str,
                configs: Mapping[str, Mapping[str, Any]] | None = None,
                memory_fraction: float | None = None) -> GroupRunner:
    """The group's runner with its analyzers loaded; ``memory_fraction`` caps this process's
    share of the GPU (``TIKTOK_GPU_MEMORY_FRACTION``) before any model takes memory."""
    enforce_offline()
    cap_memory(memory_fraction, resolve_device(device))
    runner = GroupRunner(group, build_analyzers(keys, configs),
                         LoadContext(model_store=model_store, device=device))
    runner.load()
    return runner
