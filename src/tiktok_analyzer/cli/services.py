"""Run the six services as separate OS processes (for local use and the end-to-end tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from tiktok_analyzer.shared.contracts.topics import SERVICES, Service

READY_LINE = "app started successfully"  # FastStream logs this once every subscriber runs


class ServiceSet:
    def __init__(self, names: list[str] | tuple[str, ...], log_dir: Path,
                 env: dict[str, str] | None = None) -> None:
        self.names = list(names)
        self.log_dir = log_dir
        # One BLAS thread per service: services scale by processes, and several processes
        # each spinning a BLAS pool on the same cores slow one another down by orders of
        # magnitude (seen: a librosa warm-up taking minutes next to a restarting service).
        blas = dict.fromkeys(("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"), "1")
        self.env = {**blas, **os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def start(self, name: str) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # Each process names itself in its traces (an OTEL_SERVICE_NAME inherited from the
        # caller would give all six the same name). Traces are exported only where the
        # caller's environment or ``env`` sets an OTLP endpoint (shared/observability/telemetry.py).
        env = {**self.env, "OTEL_SERVICE_NAME": name}
        with self.log_path(name).open("ab") as log:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", SERVICES[Service(name)].module],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def __enter__(self) -> ServiceSet:
        for name in self.names:
            self.start(name)
        return self

    def wait_ready(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        pending = set(self.names)
        while pending:
            for name in list(pending):
                proc = self.procs[name]
                text = self.log_path(name).read_text(errors="replace")
                if READY_LINE in text:
                    pending.discard(name)
                elif proc.poll() is not None:
                    raise RuntimeError(
                        f"service {name} exited ({proc.returncode}):\n{text[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"services not ready after {timeout:.0f}s: {sorted(pending)}")
            time.sleep(0.3)

    def ready_count(self, name: str) -> int:
        path = self.log_path(name)
        return path.read_text(errors="replace").count(READY_LINE) if path.exists() else 0

    def restart(self, names: list[str], timeout: float = 180.0) -> float:
        """Start ``names`` again (their logs are appended to) and wait until each logs that
        it is ready once more; returns the seconds that took."""
        started = time.monotonic()
        before = {name: self.ready_count(name) for name in names}
        for name in names:
            self.start(name)
        while any(self.ready_count(n) <= before[n] for n in names):
            for name in names:
                proc = self.procs[name]
                if proc.poll() is not None:
                    raise RuntimeError(f"service {name} exited ({proc.returncode}) on restart")
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"services not ready {timeout:.0f}s after a restart")
            time.sleep(0.2)
        return time.monotonic() - started

    def wait(self) -> None:
        while all(p.poll() is None for p in self.procs.values()):
            time.sleep(0.5)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=30)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
