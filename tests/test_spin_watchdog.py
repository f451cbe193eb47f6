"""The set-up's and test run's guard against threads spinning in the kernel
(src/tiktok_analyzer/cli/spin_watchdog.py), on real processes: a child reading /dev/zero into
a large buffer spends nearly all its time in the kernel, as the dcache spinners did."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tiktok_analyzer.cli.spin_watchdog import SpinWatchdog

KERNEL_LOOP = """
import sys, time
zero = open('/dev/zero', 'rb', buffering=0)
buf = bytearray(64 << 20)
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    zero.readinto(buf)
print('done spinning', flush=True)
time.sleep(60)
"""
USER_LOOP = """
import time
end = time.monotonic() + 60
while time.monotonic() < end:
    sum(range(10_000))
"""


def child(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                            text=True)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        proc.kill()
        proc.wait()


def watch_until(dog: SpinWatchdog, done: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not callable(done) or not done():
        assert time.monotonic() < deadline, "the watchdog did not act in time"
        dog.look()
        time.sleep(dog.interval_s)


def test_a_thread_spinning_in_the_kernel_is_lowered_then_restored(
        processes: list[subprocess.Popen[str]], capfd: pytest.CaptureFixture[str]) -> None:
    spinner = child(KERNEL_LOOP, "6")
    processes.append(spinner)
    dog = SpinWatchdog(os.getpid(), spin_s=1.5, interval_s=0.25)
    watch_until(dog, lambda: os.sched_getscheduler(spinner.pid) == os.SCHED_IDLE)
    assert "has spun in the kernel" in capfd.readouterr().err
    # It stops spinning (sleeps): back to the ordinary policy.
    watch_until(dog, lambda: os.sched_getscheduler(spinner.pid) == os.SCHED_OTHER)
    assert f"thread {spinner.pid} (python" in capfd.readouterr().err
    assert spinner.stdout is not None and spinner.stdout.readline() == "done spinning\n"


def test_user_space_work_and_sleepers_are_left_alone(
        processes: list[subprocess.Popen[str]], capfd: pytest.CaptureFixture[str]) -> None:
    busy = child(USER_LOOP)
    sleeper = child("import time; time.sleep(60)")
    processes += [busy, sleeper]
    dog = SpinWatchdog(os.getpid(), spin_s=1.0, interval_s=0.25)
    end = time.monotonic() + 4
    while time.monotonic() < end:
        dog.look()
        time.sleep(dog.interval_s)
    assert os.sched_getscheduler(busy.pid) == os.SCHED_OTHER
    assert os.sched_getscheduler(sleeper.pid) == os.SCHED_OTHER
    assert "[watchdog]" not in capfd.readouterr().err
    assert busy.pid in dog.known_pids and sleeper.pid in dog.known_pids


def test_a_real_time_process_is_set_back_to_the_ordinary_policy(
        processes: list[subprocess.Popen[str]], capfd: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root may start a real-time process")
    raised = child("import os, time\n"
                   "os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(99))\n"
                   "print('raised', flush=True)\n"
                   "time.sleep(60)")
    processes.append(raised)
    assert raised.stdout is not None and raised.stdout.readline() == "raised\n"
    assert os.sched_getscheduler(raised.pid) == os.SCHED_FIFO
    dog = SpinWatchdog(os.getpid(), interval_s=0.25)
    watch_until(dog, lambda: os.sched_getscheduler(raised.pid) == os.SCHED_OTHER)
    assert "ran real-time (SCHED_FIFO" in capfd.readouterr().err


def test_the_command_line_watches_until_its_root_exits() -> None:
    root = subprocess.Popen(["sleep", "1"])
    done = subprocess.run(
        [sys.executable, "-m", "tiktok_analyzer.cli.spin_watchdog", "--root", str(root.pid),
         "--interval-s", "0.2"], capture_output=True, text=True, timeout=30, check=False)
    root.wait()
    assert done.returncode == 0, done.stderr
