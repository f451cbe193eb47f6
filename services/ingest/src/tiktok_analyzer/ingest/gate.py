"""The media gate: runs the probe in a confined child process and turns every way it can end
(an answer, a crash, a hang, running out of memory) into accepted-with-warnings or a reason."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tiktok_analyzer.shared.contracts.events import MediaInfo
from tiktok_analyzer.shared.errors import MediaRejected
from tiktok_analyzer.shared.settings import GateSettings

# The child needs nothing from our environment but the interpreter's own paths; keeping the
# rest out means no proxy or credential variable reaches code that parses hostile files.
_CHILD_ENV_KEYS = ("PATH", "PYTHONPATH", "VIRTUAL_ENV", "LANG", "LC_ALL", "TMPDIR")


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in _CHILD_ENV_KEYS}
    env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = "1"
    return env


def gate_file(path: Path, gate: GateSettings | None = None) -> tuple[MediaInfo, list[str]]:
    """Probe ``path`` in a child process; return its media facts and warnings, or raise
    ``MediaRejected`` with a reason a person can act on."""
    gate = gate or GateSettings()
    size = path.stat().st_size
    if size == 0:
        raise MediaRejected("empty file (0 bytes)")
    if size > gate.max_file_bytes:
        raise MediaRejected(f"file is {size / 1e6:.1f} MB, above the limit of "
                            f"{gate.max_file_bytes / 1e6:.1f} MB")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tiktok_analyzer.ingest.probe", str(path)],
            input=gate.model_dump_json(), capture_output=True, text=True,
            timeout=gate.probe_timeout_s, env=_child_env(), check=False)
    except subprocess.TimeoutExpired as exc:
        raise MediaRejected(f"the media probe did not finish within {gate.probe_timeout_s:g} s "
                            "(the file may be crafted to stall demuxing)") from exc
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        hint = {"SIGXCPU": "it used up its CPU time limit",
                "SIGKILL": "it was killed, most likely for memory"}.get(name, "FFmpeg crashed")
        raise MediaRejected(f"the media probe died with {name} ({hint}) on this file")
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        if any(s in done.stderr for s in ("MemoryError", "Cannot allocate memory",
                                          "failed to map segment")):
            raise MediaRejected("the media probe exceeded its memory limit on this file")
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise MediaRejected(f"the media probe failed (exit {done.returncode}): {tail[0]}")
    answer = json.loads(lines[-1])
    if "rejected" in answer:
        raise MediaRejected(answer["rejected"])
    return MediaInfo.model_validate(answer["media"]), list(answer["warnings"])
