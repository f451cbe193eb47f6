"""Fault injection: videos through the Kafka pipeline while every service is SIGKILLed and
restarted at random points; then the report topic is checked as a downstream consumer reads it.

Last line printed: ``videos=N reports=R lost=L duplicates=D max_recovery_s=S`` where R counts
videos with a report, L videos without one, D report messages beyond one per (video, report
version), and S the longest time from a kill to the restarted service being ready again.
"""

from __future__ import annotations

import asyncio
import random
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tiktok_analyzer.cli.services import ServiceSet
from tiktok_analyzer.shared.contracts.topics import Service

SERVICES = tuple(str(s) for s in Service)


@dataclass
class ChaosResult:
    videos: int
    reports: int
    lost: int
    duplicates: int
    recoveries_s: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.reports == self.videos and self.lost == 0 and self.duplicates == 0

    def line(self) -> str:
        worst = max(self.recoveries_s, default=0.0)
        return (f"videos={self.videos} reports={self.reports} lost={self.lost} "
                f"duplicates={self.duplicates} max_recovery_s={worst:.1f}")


def _say(message: str) -> None:
    print(f"[chaos] {message}", file=sys.stderr, flush=True)


class Killer(threading.Thread):
    """SIGKILLs each service ``kills`` times at random moments of ``window_s`` seconds and
    restarts it at once, timing how long it takes to be ready again."""

    def __init__(self, services: ServiceSet, kills: int, window_s: float, seed: int) -> None:
        super().__init__(daemon=True)
        rng = random.Random(seed)
        self.services = services
        self.schedule = sorted((rng.uniform(1.0, window_s), name)
                               for name in services.names for _ in range(kills))
        self.recoveries_s: list[float] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            started = time.monotonic()
            for at, name in self.schedule:
                time.sleep(max(0.0, at - (time.monotonic() - started)))
                killed = time.monotonic()
                self.services.kill(name)
                _say(f"killed {name} at {at:.1f}s")
                self.services.restart([name])
                self.recoveries_s.append(time.monotonic() - killed)
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


def run_chaos(videos: int, kills_per_service: int, log_dir: Path, seed: int | None = None,
              timeout_s: float = 600.0) -> ChaosResult:
    from tiktok_analyzer.cli import stack
    from tiktok_analyzer.cli.submit import read_reports, upload
    from tiktok_analyzer.ingest.identity import video_id_for_file

    seed = random.randrange(1 << 30) if seed is None else seed
    _say(f"seed {seed}: {videos} videos, {kills_per_service} kill(s) per service")
    stack.up()
    clips = make_clips(log_dir / "media", videos, seed)
    ids = [video_id_for_file(c) for c in clips]
    window_s = max(10.0, 2.5 * videos)
    with ServiceSet(SERVICES, log_dir=log_dir / "services") as services:
        services.wait_ready()
        killer = Killer(services, kills_per_service, window_s, seed)
        killer.start()
        for i, clip in enumerate(clips):
            upload(clip, key=f"chaos/{clip.name}")
            time.sleep(window_s / videos * random.Random(seed + i).uniform(0.5, 1.5))
        killer.join()
        if killer.error is not None:
            raise killer.error
        _say("all kills done; waiting for the reports")
        found = asyncio.run(read_reports(set(ids), timeout=timeout_s, settle_s=15))
    reported = [v for v in ids if found[v]]
    extra = sum(len(r) - len({x.report_version for x in r}) for r in found.values())
    return ChaosResult(videos=videos, reports=len(reported), lost=videos - len(reported),
                       duplicates=extra, recoveries_s=killer.recoveries_s)
