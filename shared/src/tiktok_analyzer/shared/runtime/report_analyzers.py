"""Report analyzers: analyses the aggregator derives from other analyzers' report sections.

Some results need several groups at once: the hook (first cut, first face, first word, the
sound's onset) and pacing (cuts per window, cuts on the beat) read sections of gpu_light, the
audio group and the sampler's manifest. They cannot run in a group's service, which sees one
group's batches; they run in the aggregator once a video's sections are built.

A report analyzer is one module in ``tiktok_analyzer.aggregator.analyzers`` (found by
``plugins.discover_report``), typed as ``ReportAnalyzer[Config, Record, Summary]``. It names the
analyzers it reads in ``requires`` (any group's, or another report analyzer's) and implements
``analyze(inputs)``. A required analyzer that did not run is not an error: ``inputs`` says why
(``needs analyzer faces (not enabled)``, ``analyzer transcript skipped: ...``) and the
analyzer reports what it can, null fields named in its summary's ``unavailable``. Its section
in the report has ``group`` ``aggregator``; the aggregator gives it a ``failed`` status (and goes
on) if ``analyze`` raises, ``skipped`` if it raises ``NotApplicable``.

Upstream summaries and records are read through a *view*: a pydantic model declaring only the
fields the reader needs. The analyzer's own summary or record type works as a view; so does a
small model of a few fields, which is how a report analyzer reads an analyzer whose module it
does not import (or that another team is still writing): the fields are checked, and a section
without them is unavailable with that reason.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from tiktok_analyzer.shared.contracts.events import AnalyzerStatus
from tiktok_analyzer.shared.contracts.report import AnalyzerSection
from tiktok_analyzer.shared.contracts.results import Record, Summary
from tiktok_analyzer.shared.errors import ConfigError
from tiktok_analyzer.shared.runtime.analyzers import VideoFacts
from tiktok_analyzer.shared.runtime.upstream import why_unavailable

ViewT = TypeVar("ViewT", bound=BaseModel)
ValueT = TypeVar("ValueT")
RecordT = TypeVar("RecordT", bound=Record)
SummaryT = TypeVar("SummaryT", bound=Summary)


class ReportAnalyzerConfig(BaseModel):
    """Base of a report analyzer's settings: fields with defaults and a ``kind`` tag."""

    model_config = ConfigDict(frozen=True, extra="forbid")


ConfigT = TypeVar("ConfigT", bound=ReportAnalyzerConfig)


class NotApplicable(Exception):
    """Raised by ``analyze`` when the video has nothing it could report on (no video stream,
    say): its section is ``skipped`` with the message as the reason."""


@dataclass(frozen=True)
class Read(Generic[ValueT]):
    """What reading an upstream gave: the value, or why there is none."""

    value: ValueT | None
    reason: str | None = None


@dataclass(frozen=True)
class ReportInputs:
    """What a report analyzer reads: the sections built so far and the manifest's facts."""

    video: VideoFacts
    sections: Mapping[str, AnalyzerSection]
    installed: frozenset[str] = field(default_factory=frozenset)
    """Keys of every analyzer installed here, to tell "not installed" from "not enabled"."""

    def why_missing(self, key: str) -> str | None:
        """None when ``key`` ran and is ok, else why its output is not there."""
        section = self.sections.get(key)
        if section is not None and section.status is AnalyzerStatus.OK:
            return None
        return why_unavailable(key, section.status if section else None,
                               section.reason if section else None,
                               installed=section is not None or key in self.installed)

    def summary(self, key: str, view: type[ViewT]) -> Read[ViewT]:
        """``key``'s summary read as ``view``."""
        why = self.why_missing(key)
        if why is not None:
            return Read(None, why)
        summary = self.sections[key].summary
        if isinstance(summary, view):
            return Read(summary)
        try:
            return Read(view.model_validate(summary.model_dump()))
        except ValidationError as exc:
            return Read(None, f"analyzer {key}'s summary lacks {_fields(exc)}")

    def records(self, key: str, view: type[ViewT]) -> Read[list[ViewT]]:
        """``key``'s records (sorted by ``t``) read as ``view``."""
        why = self.why_missing(key)
        if why is not None:
            return Read(None, why)
        out: list[ViewT] = []
        for record in self.sections[key].records:
            if isinstance(record, view):
                out.append(record)
                continue
            try:
                out.append(view.model_validate(record.model_dump()))
            except ValidationError as exc:
                return Read(None, f"analyzer {key}'s records lack {_fields(exc)}")
        return Read(out)


def _fields(exc: ValidationError) -> str:
    return ", ".join(sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()}))


@dataclass(frozen=True)
class Derived(Generic[RecordT, SummaryT]):
    """A report analyzer's output: its summary and, optionally, time-stamped records."""

    summary: SummaryT
    records: Sequence[RecordT] = ()


class ReportAnalyzer(ABC, Generic[ConfigT, RecordT, SummaryT]):
    key: ClassVar[str]
    version: ClassVar[str] = "1"
    requires: ClassVar[tuple[str, ...]] = ()
    """Analyzers whose sections it reads; any of them may be absent from a report."""
    config_model: ClassVar[type[ReportAnalyzerConfig]] = ReportAnalyzerConfig
    record_model: ClassVar[type[Record]] = Record
    summary_model: ClassVar[type[Summary]] = Summary

    def __init__(self, config: ConfigT | None = None) -> None:
        self.config: ConfigT = (config if config is not None
                                else self.config_model())  # type: ignore[assignment]

    @classmethod
    def description(cls) -> str:
        """The first sentence of the module's docstring, without the leading ````key``: ````."""
        doc = (sys.modules[cls.__module__].__doc__ or cls.__doc__ or "").strip()
        first = " ".join(doc.split("\n\n")[0].split())
        return first.removeprefix(f"``{cls.key}``: ")

    @classmethod
    def describe_inputs(cls) -> str:
        return "report sections: " + ", ".join(cls.requires)

    @abstractmethod
    def analyze(self, inputs: ReportInputs) -> Derived[RecordT, SummaryT]:
        """Derive this analyzer's summary (and records) from the other sections."""


AnyReportAnalyzer = ReportAnalyzer[Any, Any, Any]


def report_order(analyzers: Sequence[AnyReportAnalyzer]) -> list[AnyReportAnalyzer]:
    """Report analyzers ordered so that one that reads another runs after it."""
    by_key = {a.key: a for a in analyzers}
    ordered: list[AnyReportAnalyzer] = []

    def visit(analyzer: AnyReportAnalyzer, path: tuple[str, ...]) -> None:
        if analyzer.key in path:
            raise ConfigError(f"report analyzers read one another in a cycle: {path}")
        if analyzer in ordered:
            return
        for key in analyzer.requires:
            if key in by_key:
                visit(by_key[key], (*path, analyzer.key))
        ordered.append(analyzer)

    for analyzer in analyzers:
        visit(analyzer, ())
    return ordered

