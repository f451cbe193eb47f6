"""The set-up's and the test run's guard against real-time priority and kernel spinners.

What it guards against (measured 2026-11-30, docs/setup.md):

* **Real-time priority leaking into child processes.** SVT-AV1 run as root switches the thread
  that opens its encoder to ``SCHED_FIFO`` 99, and every process started from it afterwards
  inherits that. Go builds then hang (a 7.5 s build ran past 300 s under ``chrt -f 99``: the
  "Go livelock" of issue 11), and so can anything else that spins while waiting.
* **Threads spinning in the kernel.** A process reaping a dead child can busy-wait in the
  dentry cache (``wait4 -> release_task -> proc_invalidate_siblings_dcache -> d_invalidate ->
  shrink_dcache_parent``) for /proc entries another task is still killing. Two Chromium
  zygotes (real-time, inherited) sat there 17 minutes at 100 % system time while the task they
  waited for queued (load average 140); moved to ``SCHED_IDLE`` they finished within 5 s.
  The kernel's own fix ("get rid of busy-waiting in shrink_dcache_tree()") is not in 6.18.

How: every ``interval_s`` it reads ``/proc/<pid>/stat`` of the processes under ``root`` (and
keeps following a process once seen, should it be re-parented). A process running real-time
has its real-time threads set back to ``SCHED_OTHER``. In a process that spent half a core in
the kernel it looks at each thread: one that kept nearly all of its CPU time in the kernel and
almost none in user space for ``spin_s`` is moved to ``SCHED_IDLE`` and put back to its old
policy as soon as it stops. A thread moved by mistake (a long pure kernel copy) only runs at
low priority while it keeps at it.

Only the standard library is used: the set-up runs it before the workspace is synced.
Usage: ``python3 src/tiktok_analyzer/cli/spin_watchdog.py --root PID`` (runs until ``root``
exits).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICKS_PER_S = os.sysconf("SC_CLK_TCK")
KERNEL_SHARE = 0.5
"""Of the wall time since the last look, at least this much spent in the kernel..."""
USER_SHARE = 0.05
"""...and at most this much in user space, for a look to count as spinning."""
REAL_TIME = {os.SCHED_FIFO: "SCHED_FIFO", os.SCHED_RR: "SCHED_RR"}


def say(message: str) -> None:
    print(f"[watchdog] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class TaskSample:
    pid: int
    tid: int
    comm: str
    state: str
    user_ticks: int
    kernel_ticks: int
    ppid: int
    policy: int


def read_stat(path: Path, pid: int, tid: int) -> TaskSample | None:
    try:
        text = path.read_text()
    except OSError:  # gone between the listing and the read
        return None
    # comm is in parentheses and may itself contain spaces or parentheses.
    head, _, rest = text.rpartition(")")
    fields = rest.split()
    return TaskSample(pid=pid, tid=tid, comm=head.partition("(")[2], state=fields[0],
                      ppid=int(fields[1]), user_ticks=int(fields[11]),
                      kernel_ticks=int(fields[12]), policy=int(fields[38]))


def shares(now: TaskSample, before: TaskSample, elapsed_ticks: float) -> tuple[float, float]:
    """(kernel, user) CPU time between two samples, as shares of the wall time between them."""
    return ((now.kernel_ticks - before.kernel_ticks) / elapsed_ticks,
            (now.user_ticks - before.user_ticks) / elapsed_ticks)


def tasks_of(pid: int) -> Iterable[TaskSample]:
    try:
        tids = [int(t) for t in os.listdir(PROC / str(pid) / "task")]
    except OSError:
        return
    for tid in tids:
        sample = read_stat(PROC / str(pid) / "task" / str(tid) / "stat", pid, tid)
        if sample is not None:
            yield sample


def kernel_stack(pid: int, tid: int) -> str:
    """The thread's kernel stack, where this user may read it (root): the log then says
    where it spun."""
    try:
        lines = (PROC / str(pid) / "task" / str(tid) / "stack").read_text().splitlines()
    except OSError:
        return ""
    frames = [line.split("] ", 1)[-1].split("+", 1)[0] for line in lines]
    return " <- ".join(frames[:5])


def alive(pid: int) -> bool:
    sample = read_stat(PROC / str(pid) / "stat", pid, pid)
    return sample is not None and sample.state not in ("Z", "X")  # a zombie has exited


@dataclass
class Watched:
    pid: int
    spinning_since: float
    lowered_at: float | None = None
    old_policy: int = os.SCHED_OTHER
    old_priority: int = 0


class SpinWatchdog:
    def __init__(self, root: int, spin_s: float = 10.0, interval_s: float = 1.0) -> None:
        self.root = root
        self.spin_s = spin_s
        self.interval_s = interval_s
        self.known_pids: set[int] = {root}
        self.last_process: dict[int, TaskSample] = {}
        self.last_thread: dict[int, TaskSample] = {}
        self.watched: dict[int, Watched] = {}
        self.last_look = time.monotonic()

    def processes(self) -> dict[int, TaskSample]:
        """``root`` and its descendants, and any process seen under it before (a daemon's
        re-parenting to init does not hide it), each with its whole-process CPU times. Only
        /proc/<pid>/stat is read for every process: each /proc file read leaves a dentry the
        kernel must drop when the process exits, the very work that spins."""
        everyone: dict[int, TaskSample] = {}
        for entry in os.listdir(PROC):
            if entry.isdigit():
                sample = read_stat(PROC / entry / "stat", int(entry), int(entry))
                if sample is not None:
                    everyone[sample.pid] = sample
        self.known_pids &= everyone.keys()
        grew = True
        while grew:  # parents before children is not guaranteed: repeat until nothing new
            before = len(self.known_pids)
            self.known_pids |= {pid for pid, s in everyone.items() if s.ppid in self.known_pids}
            grew = len(self.known_pids) > before
        return {pid: everyone[pid] for pid in self.known_pids - {os.getpid()}}

    def look(self) -> None:
        now = time.monotonic()
        elapsed_ticks = max(1e-3, (now - self.last_look) * TICKS_PER_S)
        self.last_look = now
        processes = self.processes()
        for sample in processes.values():
            if sample.policy in REAL_TIME:
                self.unrealtime(sample)
        # Threads are looked at only in a process that spent half a core in the kernel since
        # the last look, or that has a thread being watched.
        hot = {pid for pid, sample in processes.items()
               if (before := self.last_process.get(pid)) is not None
               and shares(sample, before, elapsed_ticks)[0] >= KERNEL_SHARE}
        hot |= {entry.pid for entry in self.watched.values()} & processes.keys()
        threads: dict[int, TaskSample] = {}
        for pid in hot:
            for task in tasks_of(pid):
                threads[task.tid] = task
                before_task = self.last_thread.get(task.tid)
                if before_task is not None:  # else judged from the next look on
                    self.judge(task, before_task, elapsed_ticks, now)
        for tid in set(self.watched) - threads.keys():
            entry = self.watched.pop(tid)
            if entry.lowered_at is not None:
                say(f"thread {tid} exited {now - entry.lowered_at:.0f} s after it was lowered")
        self.last_process = processes
        self.last_thread = threads

    def judge(self, task: TaskSample, before: TaskSample, elapsed_ticks: float,
              now: float) -> None:
        # Not the thread's state: a spinner was seen reported as sleeping between its turns.
        kernel, user = shares(task, before, elapsed_ticks)
        spinning = kernel >= KERNEL_SHARE and user <= USER_SHARE
        entry = self.watched.get(task.tid)
        if spinning:
            if entry is None:
                entry = self.watched[task.tid] = Watched(pid=task.pid, spinning_since=now)
            if entry.lowered_at is None and now - entry.spinning_since >= self.spin_s:
                self.lower(task, entry, now)
        elif entry is not None:
            if entry.lowered_at is not None:
                self.restore(task, entry, now)
            del self.watched[task.tid]

    def unrealtime(self, process: TaskSample) -> None:
        """Back to SCHED_OTHER, every thread of ``process`` that runs real-time: nothing the
        set-up or the tests start needs it, and a real-time thread spinning in the kernel
        takes its core from everything else (RT throttling leaves others 5 %)."""
        changed = []
        for task in tasks_of(process.pid):
            if task.policy in REAL_TIME:
                with contextlib.suppress(OSError):
                    os.sched_setscheduler(task.tid, os.SCHED_OTHER, os.sched_param(0))
                    changed.append(task.tid)
        if changed:
            say(f"pid {process.pid} ({process.comm}) ran real-time ({REAL_TIME[process.policy]}"
                f"; a library raised it, as SVT-AV1 does under root, or a parent passed it "
                f"on): {len(changed)} thread(s) set back to SCHED_OTHER")

    def lower(self, task: TaskSample, entry: Watched, now: float) -> None:
        try:
            entry.old_policy = os.sched_getscheduler(task.tid)
            entry.old_priority = os.sched_getparam(task.tid).sched_priority
            os.sched_setscheduler(task.tid, os.SCHED_IDLE, os.sched_param(0))
        except OSError as error:
            say(f"could not lower thread {task.tid} ({task.comm}): {error}")
            return
        entry.lowered_at = now
        where = kernel_stack(task.pid, task.tid)
        say(f"pid {task.pid} thread {task.tid} ({task.comm}) has spun in the kernel for "
            f"{now - entry.spinning_since:.0f} s with no user time; lowered to SCHED_IDLE so "
            f"the task it waits for can run" + (f". Kernel stack: {where}" if where else ""))

    def restore(self, task: TaskSample, entry: Watched, now: float) -> None:
        assert entry.lowered_at is not None
        try:
            os.sched_setscheduler(task.tid, entry.old_policy,
                                  os.sched_param(entry.old_priority))
            outcome = "its scheduling restored"
        except OSError as error:  # an unprivileged user may not raise it back
            outcome = f"left at SCHED_IDLE ({error})"
        say(f"thread {task.tid} ({task.comm}) stopped spinning {now - entry.lowered_at:.0f} s "
            f"after it was lowered; {outcome}")

    def run(self) -> None:
        with contextlib.suppress(OSError):
            # Ahead of ordinary tasks where allowed (root): it must get its turn on cores
            # that spinners hold.
            os.nice(-10)
        while alive(self.root):
            self.look()
            time.sleep(self.interval_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=int, default=os.getppid(),
                        help="watch this process and its descendants (default: the parent)")
    parser.add_argument("--spin-s", type=float, default=10.0,
                        help="seconds of kernel-only spinning before a thread is lowered")
    parser.add_argument("--interval-s", type=float, default=1.0)
    args = parser.parse_args(argv)
    if not PROC.joinpath("self", "task").is_dir():
        say("no /proc task listing here: not watching")
        return 0
    SpinWatchdog(args.root, spin_s=args.spin_s, interval_s=args.interval_s).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
