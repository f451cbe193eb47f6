"""Fault injection: videos through the Kafka pipeline while every service is SIGKILLed and
restarted at random points, several services are killed at the same moment, and the broker
and MinIO are stopped and started again; then the report topic is checked as a downstream
consumer reads it.

Last line printed: ``videos=N reports=R lost=L duplicates=D max_recovery_s=S faults=...``
where R counts videos with a report, L videos without one, D report messages beyond one per
(video, report version), S the longest time from a kill to the restarted service(s) being
ready again, and ``faults`` what was injected.
"""

from __future__ import annotations

import asyncio
import functools
import random
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tiktok_analyzer.cli.services import ServiceSet
from tiktok_analyzer.shared.contracts.topics import Service

SERVICES = tuple(str(s) for s in Service)


@dataclass(frozen=True)
class Faults:
    """What to inject: kills per service (one at a time), rounds of ``together`` services
    killed at once, broker and MinIO restarts (stopped for ``pause_s`` each)."""

    kills_per_service: int = 3
    together: int = 0
    together_rounds: int = 0
    broker_restarts: int = 0
    minio_restarts: int = 0
    pause_s: tuple[float, float] = (5.0, 20.0)

    def describe(self) -> str:
        return (f"kills={self.kills_per_service}x{len(SERVICES)},"
                f"together={self.together_rounds}x{self.together},"
                f"broker_restarts={self.broker_restarts},minio_restarts={self.minio_restarts}")


@dataclass
class ChaosResult:
    videos: int
    reports: int
    lost: int
    duplicates: int
    recoveries_s: list[float] = field(default_factory=list)
    faults: str = ""

    @property
    def ok(self) -> bool:
        return self.reports == self.videos and self.lost == 0 and self.duplicates == 0

    def line(self) -> str:
        worst = max(self.recoveries_s, default=0.0)
        return (f"videos={self.videos} reports={self.reports} lost={self.lost} "
                f"duplicates={self.duplicates} max_recovery_s={worst:.1f}"
                + (f" faults={self.faults}" if self.faults else ""))


def _say(message: str) -> None:
    print(f"[chaos] {message}", file=sys.stderr, flush=True)


Fault = tuple[str, tuple[str, ...]]  # ("kill", names) | ("broker", ()) | ("minio", ())


class Injector(threading.Thread):
    """Injects the faults one after another at random moments of ``window_s`` seconds: a kill
    restarts the killed services at once and waits until they are ready (timed); a broker or
    MinIO restart stops it, waits a random pause, and starts it with its data."""

    def __init__(self, services: ServiceSet, faults: Faults, window_s: float, seed: int) -> None:
        super().__init__(daemon=True)
        rng = random.Random(seed)
        self.services = services
        self.faults = faults
        plan: list[Fault] = [("kill", (name,)) for name in services.names
                             for _ in range(faults.kills_per_service)]
        plan += [("kill", tuple(rng.sample(services.names, faults.together)))
                 for _ in range(faults.together_rounds)]
        plan += [("broker", ())] * faults.broker_restarts + [("minio", ())] * faults.minio_restarts
        self.schedule = sorted(((rng.uniform(1.0, window_s), fault) for fault in plan),
                               key=lambda item: item[0])
        self.pauses = [rng.uniform(*faults.pause_s) for _ in self.schedule]
        self.recoveries_s: list[float] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        from tiktok_analyzer.cli import stack

        try:
            started = time.monotonic()
            for (at, (kind, names)), pause in zip(self.schedule, self.pauses, strict=True):
                time.sleep(max(0.0, at - (time.monotonic() - started)))
                if kind == "kill":
                    killed = time.monotonic()
                    for name in names:
                        self.services.kill(name)
                    _say(f"killed {' + '.join(names)} at {at:.1f}s")
                    self.services.restart(list(names))
                    self.recoveries_s.append(time.monotonic() - killed)
                else:
                    name = "kafka" if kind == "broker" else "minio"
                    stack.stop(name)
                    _say(f"stopped {name} at {at:.1f}s for {pause:.1f}s")
                    time.sleep(pause)
                    stack.start(name)
        except BaseException as exc:  # reported by the main thread
            self.error = exc


def make_clips(folder: Path, count: int, seed: int) -> list[Path]:
    from tiktok_analyzer.cli.sample import make_video

    rng = random.Random(seed)
    tag = uuid.uuid4().hex[:6]  # new bytes every run: identical bytes would be one video
    clips = []
    for i in range(count):
        color = (rng.randrange(30, 226), rng.randrange(30, 226), rng.randrange(30, 226))
        clips.append(make_video(folder / f"chaos-{tag}-{i}.mp4", duration_s=rng.uniform(2, 5),
                                width=180, height=320, color=color,
                                bpm=rng.choice([90, 110, 128]), pattern="moving"))
    return clips


def run_chaos(videos: int, faults: Faults, log_dir: Path, seed: int | None = None,
              timeout_s: float = 600.0, settle_s: float = 15.0) -> ChaosResult:
    from tiktok_analyzer.cli import stack
    from tiktok_analyzer.cli.submit import read_reports, upload
    from tiktok_analyzer.ingest.identity import video_id_for_file

    seed = random.randrange(1 << 30) if seed is None else seed
    _say(f"seed {seed}: {videos} videos, faults {faults.describe()}")
    stack.up()
    clips = make_clips(log_dir / "media", videos, seed)
    ids = [video_id_for_file(c) for c in clips]
    window_s = max(10.0, 2.5 * videos)
    with ServiceSet(SERVICES, log_dir=log_dir / "services") as services:
        services.wait_ready()
        injector = Injector(services, faults, window_s, seed)
        injector.start()
        for i, clip in enumerate(clips):
            # An upload while MinIO is down fails like any client's would: try again, as the
            # client would, until it is back (the outage is the fault under test, not this).
            _upload_when_up(functools.partial(upload, clip, key=f"chaos/{clip.name}"))
            time.sleep(window_s / videos * random.Random(seed + i).uniform(0.5, 1.5))
        injector.join()
        if injector.error is not None:
            raise injector.error
        _say("all faults injected; waiting for the reports")
        found = asyncio.run(read_reports(set(ids), timeout=timeout_s, settle_s=settle_s))
    reported = [v for v in ids if found[v]]
    extra = sum(len(r) - len({x.report_version for x in r}) for r in found.values())
    return ChaosResult(videos=videos, reports=len(reported), lost=videos - len(reported),
                       duplicates=extra, recoveries_s=injector.recoveries_s,
                       faults=faults.describe())


def _upload_when_up(send: Callable[[], object], timeout_s: float = 120.0) -> None:
    from tiktok_analyzer.shared.infra.outage import MINIO, retry_call

    retry_call(MINIO, "upload", send, give_up_after_s=timeout_s)
