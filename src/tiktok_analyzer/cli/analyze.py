"""``tiktok-analyzer analyze``: files and folders in one process, analyzers loaded once.

Each file gets a report JSON and its HTML page in ``--out``. Progress (rich): a bar for the
file being analyzed (seconds of video done) and one for the whole run; at the end a table of
outcomes. The exit code is that of the worst outcome: usage error (2, e.g. no such file) over
error (1, the analysis failed) over rejected (3, the media gate refused a file) over ok (0).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tiktok_analyzer.cli.main import EXIT_ERROR, EXIT_OK, EXIT_REJECTED, EXIT_USAGE

# Worst first: the exit code of a run is that of its worst outcome.
_SEVERITY = (EXIT_USAGE, EXIT_ERROR, EXIT_REJECTED, EXIT_OK)

# What a folder is searched for (files named on the command line are taken whatever their
# suffix: the media gate decides).
MEDIA_SUFFIXES = frozenset({
    ".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".ts", ".mts", ".3gp", ".flv", ".ogv",
    ".gif", ".ivf", ".mp3", ".m4a", ".aac", ".wav", ".flac", ".ogg", ".opus",
})


@dataclass(frozen=True)
class Outcome:
    path: Path
    code: int
    status: str
    detail: str
    seconds: float
    report: Path | None = None
    page: Path | None = None


def collect(paths: Iterable[Path]) -> tuple[list[Path], list[Outcome]]:
    """The files to analyze (folders searched recursively for media, sorted), and a usage
    outcome for each path that does not exist."""
    files: list[Path] = []
    missing: list[Outcome] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*")
                            if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES
                            and not p.name.endswith(".report.json"))
        elif path.is_file():
            files.append(path)
        else:
            missing.append(Outcome(path, EXIT_USAGE, "usage", "no such file or folder", 0.0))
    unique = list(dict.fromkeys(f.resolve() for f in files))  # a file named twice runs once
    return unique, missing


def worst(codes: Iterable[int]) -> int:
    present = set(codes)
    return next((code for code in _SEVERITY if code in present), EXIT_OK)


class _Bars:
    """rich progress bars on stderr, or plain lines when stderr is not a terminal (CI logs,
    pipes), so progress is never lost and never garbles a log."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.quiet = quiet
        self.rich: Any = None
        if not quiet and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.rich = Progress(TextColumn("{task.description}"), BarColumn(),
                                 TextColumn("{task.completed:.1f}/{task.total:.1f}"),
                                 TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=Console(stderr=True), transient=False)
            self.rich.start()
            self.overall = self.rich.add_task("all files", total=total)
        self.file_task: Any = None

    def message(self, text: str) -> None:
        if self.quiet:
            return
        if self.rich is not None:
            self.rich.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=sys.stderr, flush=True)

    def start_file(self, path: Path) -> None:
        if self.rich is not None:
            self.file_task = self.rich.add_task(path.name, total=None)

    def position(self, done_s: float, duration_s: float | None) -> None:
        if self.rich is not None and self.file_task is not None:
            self.rich.update(self.file_task, completed=done_s, total=duration_s or done_s)

    def end_file(self) -> None:
        if self.rich is not None:
            if self.file_task is not None:
                self.rich.remove_task(self.file_task)
                self.file_task = None
            self.rich.advance(self.overall)

    def close(self) -> None:
        if self.rich is not None:
            self.rich.stop()


def _outcome_table(outcomes: list[Outcome]) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="outcomes")
    # The file column is as wide as its longest path (up to 120), so a name is never split;
    # the other columns wrap (fold) rather than cut with "...".
    widest = min(120, max((len(str(o.path)) for o in outcomes), default=4))
    table.add_column("file", overflow="fold", min_width=widest)
    for column in ("status", "time", "report", "detail"):
        table.add_column(column, overflow="fold")
    for o in outcomes:
        table.add_row(str(o.path), o.status, f"{o.seconds:.1f}s",
                      str(o.page or o.report or ""), o.detail[:100])
    console = Console(file=sys.stdout, width=max(160, widest + 80), record=True)
    with console.capture() as captured:
        console.print(table)
    return captured.get()


def _analyze_all(files: list[Path], out: Path, bars: _Bars) -> Iterator[Outcome]:
    from tiktok_analyzer.cli.main import summary_text
    from tiktok_analyzer.cli.view import write_page
    from tiktok_analyzer.local.pipeline import LocalPipeline, write_report

    pipeline = LocalPipeline(progress=bars.message, position=bars.position)
    try:
        for path in files:
            bars.start_file(path)
            started = time.perf_counter()
            try:
                report = pipeline.analyze(path)
            except Exception as exc:  # one bad file costs its own outcome, not the run
                bars.end_file()
                yield Outcome(path, EXIT_ERROR, "error", f"{type(exc).__name__}: {exc}",
                              time.perf_counter() - started)
                continue
            elapsed = time.perf_counter() - started
            bars.end_file()
            target = write_report(report, out)
            page = write_page(report, target, path)
            if len(files) == 1:
                print(summary_text(json.loads(report.model_dump_json())))
                duration = report.media.duration_s if report.media else None
                ratio = f" ({elapsed / duration:.2f}x the video's duration)" if duration else ""
                print(f"report written to {target} in {elapsed:.1f}s{ratio}")
                if page is not None:
                    print(f"page written to {page}")
            rejected = report.status == "rejected"
            detail = report.reason or (f"failed: {' '.join(report.failed)}"
                                       if report.failed else "")
            yield Outcome(path, EXIT_REJECTED if rejected else EXIT_OK, str(report.status),
                          detail, elapsed, target, page)
        first = pipeline.timings.get("first_batch_s")
        if first is not None:
            bars.message(f"first batch decoded {first:.1f}s after the command started")
    finally:
        pipeline.close()


def run(paths: list[Path], out: Path, quiet: bool) -> int:
    files, outcomes = collect(paths)
    for missing in outcomes:
        print(f"error: {missing.path}: {missing.detail}", file=sys.stderr)
    if not files:
        if not outcomes:
            print("error: no media files found", file=sys.stderr)
        return EXIT_USAGE
    bars = _Bars(len(files), quiet)
    try:
        outcomes += list(_analyze_all(files, out, bars))
    finally:
        bars.close()
    if len(files) > 1 or len(outcomes) > 1:
        print(_outcome_table(outcomes), end="")
    return worst(o.code for o in outcomes)
