"""Build steps that cannot hang: the pinned tools the project builds for itself.

Kafka's broker jars come from Maven Central and MinIO is source-only (``go install``); the
tests add a few Go tools of their own (``tests/deploy_tools.py``). Each is built once into the
git-ignored cache (``$TIKTOK_STACK_ROOT/infra``, default ``./.cache/infra``) and every build

* runs under a **time limit** and a **stall limit** (no output and no CPU use for
  ``stall_s``: Go prints every package it compiles with ``-v``, Maven every artifact it
  fetches, and a long compile keeps the CPU busy), and is retried once;
* prints its name when it starts, a line a minute while it runs, and its time when done; a
  failure names the step, its log, and the command to run by hand;
* **installs atomically**: it builds into a temporary name and renames into place last, so
  an interrupted build never leaves something that looks finished.

Why the Go builds once hung (found 2026-11-30, docs/setup.md): they used to run inside a
test, after a test had encoded AV1 with SVT-AV1, which switches its thread to SCHED_FIFO 99
when run as root; the build inherited real-time priority, and Go's spinning scheduler threads
at that priority starve the threads they wait on (a 7.5 s build hangs past 300 s under
``chrt -f 99``). The builds now run in the set-up under ``spin_watchdog.py``, which puts any
real-time descendant back to the ordinary policy; the time and stall limits stay as the
backstop for anything else.

Only the standard library is used, so this module runs before the workspace is synced.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

KAFKA_VERSION = "3.9.1"  # 3.9: the last line that still speaks the protocol versions aiokafka uses
SCALA_VERSION = "2.13"
SLF4J_VERSION = "1.7.36"
MINIO_MODULE = "github.com/minio/minio"
MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"


class ToolchainError(RuntimeError):
    """A build step failed twice (or a prerequisite is missing); the message says how to
    run it by hand."""


def say(message: str) -> None:
    print(f"[tools] {message}", file=sys.stderr, flush=True)


def cache_root() -> Path:
    return Path(os.environ.get("TIKTOK_STACK_ROOT", Path.cwd() / ".cache")) / "infra"


def go_env(**extra: str) -> dict[str, str]:
    """The environment of every Go build. ``GOTOOLCHAIN=local``: never fetch another Go.
    Parallelism and GC stay at Go's defaults: measured here, ``-p 1``, ``GOMAXPROCS=1`` and
    ``-c=1`` only made builds slower and GOGC settings traded memory for CPU; what had hung
    the builds was an inherited real-time priority, not a Go setting (docs/setup.md)."""
    return {**os.environ, "GO111MODULE": "on", "GOWORK": "off", "GOTOOLCHAIN": "local",
            "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod -buildvcs=false", **extra}


def require(program: str, hint: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise ToolchainError(f"{program} is needed: {hint} (scripts/setup.sh installs it)")
    return path


# --- one step: time limit, stall limit, one retry ----------------------------------------------


class _Stalled(Exception):
    pass


def _group_cpu_seconds(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of process group
    ``pgid``, from /proc; 0 where /proc is not there."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp, ...
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _run_once(argv: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path,
              timeout_s: float, stall_s: float, name: str) -> None:
    started = time.monotonic()
    last_output = [started]
    with log.open("ab") as sink:
        sink.write(f"\n$ {' '.join(argv)}  (cwd {cwd})\n".encode())
        sink.flush()
        proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        assert proc.stdout is not None

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                sink.write(line)
                sink.flush()
                last_output[0] = time.monotonic()

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        next_note = started + 60
        cpu_seen, cpu_checked = 0.0, started
        try:
            while proc.poll() is None:
                now = time.monotonic()
                if now - started > timeout_s:
                    raise TimeoutError(f"still running after {timeout_s:.0f} s")
                if now - cpu_checked >= 5:
                    # Working without printing counts as progress: Go compiles MinIO's largest
                    # package for minutes without a line on a loaded machine (seen: killed at
                    # 240 s while compiling, then redone from scratch). A stall is silence
                    # with the CPU idle too: a build blocked on the network or a lock.
                    cpu_now, cpu_checked = _group_cpu_seconds(proc.pid), now
                    if cpu_now > cpu_seen + 0.5:
                        last_output[0] = now
                    cpu_seen = max(cpu_seen, cpu_now)
                if now - last_output[0] > stall_s:
                    raise _Stalled(f"no output and no CPU use for {stall_s:.0f} s")
                if now >= next_note:
                    say(f"{name}: still running ({now - started:.0f} s)")
                    next_note += 60
                time.sleep(0.5)
        except BaseException:
            # The whole process group: go and mvn leave compilers and JVMs behind otherwise.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        finally:
            reader.join(timeout=5)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, list(argv))


def run_step(name: str, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None,
             timeout_s: float = 900, stall_s: float = 240, log_dir: Path | None = None) -> None:
    """Run one build command; retried once on failure, time-out or stall."""
    log_dir = log_dir or cache_root() / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    env = env if env is not None else dict(os.environ)
    for attempt in (1, 2):
        try:
            _run_once(argv, cwd, env, log, timeout_s, stall_s, name)
            return
        except (TimeoutError, _Stalled, subprocess.CalledProcessError) as exc:
            why = (f"exited with {exc.returncode}" if isinstance(exc, subprocess.CalledProcessError)
                   else str(exc))
            if attempt == 1:
                say(f"{name}: {why}; retrying once (log: {log})")
                continue
            tail = log.read_text(errors="replace")[-1500:]
            raise ToolchainError(
                f"step {name!r} failed twice ({why}).\nLast output:\n{tail}\n"
                f"Full log: {log}\nTo run it by hand: cd {cwd} && {' '.join(argv)}") from exc


# --- kinds of tool ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tool:
    """A pinned thing the project builds once: ``path`` exists only when it is complete.
    Kinds here: ``go_install`` and Maven jars; the tests add their own (tests/deploy_tools.py)."""

    name: str
    version: str
    build: Callable[[Tool, Path], None] = field(repr=False)
    relpath: str
    timeout_s: float = 900

    def path(self, root: Path | None = None) -> Path:
        return (root or cache_root()) / f"{self.name}-{self.version}" / self.relpath

    def ready(self, root: Path | None = None) -> bool:
        return self.path(root).exists()

    def ensure(self, root: Path | None = None) -> Path:
        """The finished tool, built first if it is not there yet."""
        target = self.path(root)
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        say(f"{self.name} {self.version}: building (once; cached in {target.parent})")
        started = time.monotonic()
        self.build(self, target)
        say(f"{self.name}: done in {time.monotonic() - started:.0f} s")
        return target


def staging_dir(target: Path) -> Path:
    """A fresh folder beside ``target`` to build in (``publish`` renames the result)."""
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))


def publish(built: Path, target: Path) -> None:
    """Rename into place: the last act of a build, so a half-built tool never has the name."""
    if not built.exists():
        raise ToolchainError(f"the build did not produce {built}")
    if target.is_dir():
        shutil.rmtree(target)
    os.replace(built, target)


def go_install(module: str) -> Callable[[Tool, Path], None]:
    """``go install module@version`` into a staging folder, then renamed to the tool's path."""

    def build(tool: Tool, target: Path) -> None:
        go = require("go", "Go 1.24 or newer")
        staging = staging_dir(target)
        try:
            run_step(tool.name, [go, "install", "-v", f"{module}@{tool.version}"],
                     cwd=staging, env=go_env(GOBIN=str(staging)), timeout_s=tool.timeout_s)
            # go install names the binary after the module's last element (minus /vN).
            publish(staging / target.name, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    return build


def _maven_jars(artifacts: Sequence[tuple[str, str, str]]) -> Callable[[Tool, Path], None]:
    def build(tool: Tool, target: Path) -> None:
        mvn = require("mvn", "apt-get install maven")
        staging = staging_dir(target)
        try:
            deps = "".join(f"<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
                           f"<version>{v}</version></dependency>" for g, a, v in artifacts)
            (staging / "pom.xml").write_text(
                '<project xmlns="http://maven.apache.org/POM/4.0.0">'
                "<modelVersion>4.0.0</modelVersion><groupId>local.tiktok</groupId>"
                "<artifactId>jars</artifactId><version>1</version>"
                f"<dependencies>{deps}</dependencies></project>")
            run_step(tool.name, [mvn, "-B", "-ntp", "dependency:copy-dependencies",
                                 f"-DoutputDirectory={staging / 'libs'}",
                                 "-DincludeScope=runtime"],
                     cwd=staging, timeout_s=tool.timeout_s)
            publish(staging / "libs", target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    return build


# --- the tools the stack runs ------------------------------------------------------------------

KAFKA = Tool("kafka", KAFKA_VERSION, _maven_jars([
    ("org.apache.kafka", f"kafka_{SCALA_VERSION}", KAFKA_VERSION),
    ("org.slf4j", "slf4j-simple", SLF4J_VERSION)]), relpath="libs", timeout_s=600)
MINIO = Tool("minio", MINIO_VERSION, go_install(MINIO_MODULE), relpath="minio",
             timeout_s=1500)
STACK_TOOLS = (KAFKA, MINIO)


def build_all(tools: Sequence[Tool], root: Path | None = None) -> dict[str, float]:
    """Build every tool not yet there, in order; seconds per tool (0 for cached ones)."""
    times: dict[str, float] = {}
    for tool in tools:
        started = time.monotonic()
        tool.ensure(root)
        times[tool.name] = round(time.monotonic() - started, 1)
    return times


def main(argv: Sequence[str] | None = None, tools: Sequence[Tool] = STACK_TOOLS) -> int:
    """``python -m tiktok_analyzer.cli.toolchain [NAME ...]``: build the named tools (all if
    none), print one line per tool with its time."""
    names = list(argv if argv is not None else sys.argv[1:])
    chosen = [t for t in tools if not names or t.name in names]
    unknown = set(names) - {t.name for t in tools}
    if unknown:
        say(f"unknown tools {sorted(unknown)}; known: {[t.name for t in tools]}")
        return 2
    try:
        times = build_all(chosen)
    except ToolchainError as exc:
        say(f"FAILED: {exc}")
        return 1
    for name, seconds in times.items():
        say(f"{name}: ready ({seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
