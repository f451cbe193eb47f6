"""The build steps of the set-up: time limit, stall limit (silence *and* an idle CPU), one
retry, a failure that says how to run the step by hand, and installs that are never half
done. Real processes, small ones."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from tiktok_analyzer.cli import toolchain


def step(tmp_path: Path, argv: list[str], **limits: float) -> None:
    toolchain.run_step("probe", argv, cwd=tmp_path, log_dir=tmp_path / "logs", **limits)


def test_a_failing_step_is_retried_once(tmp_path: Path) -> None:
    marker = tmp_path / "tried"
    flaky = (f"import pathlib, sys; m = pathlib.Path({str(marker)!r}); "
             "first = not m.exists(); m.touch(); sys.exit(1 if first else 0)")
    step(tmp_path, [sys.executable, "-c", flaky])
    assert (tmp_path / "logs" / "probe.log").read_text().count("$ ") == 2


def test_a_step_failing_twice_says_which_and_how_to_run_it(tmp_path: Path) -> None:
    with pytest.raises(toolchain.ToolchainError) as failed:
        step(tmp_path, [sys.executable, "-c", "print('broken'); raise SystemExit(3)"])
    message = str(failed.value)
    assert "step 'probe' failed twice (exited with 3)" in message
    assert "broken" in message and "To run it by hand: cd " in message


def test_silence_with_an_idle_cpu_is_a_stall(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(toolchain.ToolchainError, match="no output and no CPU use for 2 s"):
        step(tmp_path, [sys.executable, "-c", "import time; time.sleep(60)"], stall_s=2)
    assert time.monotonic() - started < 30  # two attempts of about 2 s, not 60 s each


def test_silence_while_computing_is_progress(tmp_path: Path) -> None:
    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 8: pass"
    step(tmp_path, [sys.executable, "-c", busy], stall_s=6)  # silent for 8+ s, never stalled


def test_the_time_limit_holds_whatever_the_step_does(tmp_path: Path) -> None:
    busy = "while True: pass"
    with pytest.raises(toolchain.ToolchainError, match="still running after 1 s"):
        step(tmp_path, [sys.executable, "-c", busy], timeout_s=1)


def test_an_interrupted_build_leaves_nothing_that_looks_built(tmp_path: Path) -> None:
    def half_then_fail(tool: toolchain.Tool, target: Path) -> None:
        staging = toolchain.staging_dir(target)
        (staging / "bin").write_text("half a binary")
        raise KeyboardInterrupt  # the user pressed Ctrl-C mid-build

    tool = toolchain.Tool("thing", "v1", half_then_fail, relpath="bin")
    with pytest.raises(KeyboardInterrupt):
        tool.ensure(tmp_path)
    assert not tool.ready(tmp_path)

    def build(tool: toolchain.Tool, target: Path) -> None:
        staging = toolchain.staging_dir(target)
        (staging / "bin").write_text("whole")
        toolchain.publish(staging / "bin", target)

    done = toolchain.Tool("thing", "v1", build, relpath="bin")
    assert done.ensure(tmp_path).read_text() == "whole"  # the next run builds it properly
    assert done.ensure(tmp_path).read_text() == "whole"  # and then only finds it
