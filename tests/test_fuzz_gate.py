"""Fuzzing the media gate with mutated real media (synthesized here): bit flips, truncations,
box-size lies in MP4 headers, element-size lies in Matroska, inserted and deleted bytes.

Properties, for every mutated file:

- the probe (``probe_file``, the code that parses the hostile bytes) ends in an acceptance or a
  ``MediaRejected`` with a reason, never another exception;
- its peak resident memory stays under the address-space limit the gate's child sets
  (``probe._confine``, ``GateSettings.probe_memory_bytes``), and that limit is in force;
- a file that kills or stalls the probe is still an ordinary rejection with a reason from
  ``gate_file`` (the parent side).

The gate starts one child per file, and the child's imports take about a second, which would
make a fuzzing budget minutes long. So the properties run the probe in one long-lived child
confined exactly like the gate's (``_confine`` with the gate's memory limit, before FFmpeg is
imported) that probes file after file; every file it cannot answer, and a sample of the rest,
also go through ``gate_file`` itself.

Budget: ``max_examples`` below in CI; ``HYPOTHESIS_PROFILE=long`` multiplies it by 20 (counts
of both runs in docs/reliability.md, "Fuzzing").
"""

from __future__ import annotations

import json
import os
import select
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from media_corpus import _encrypted_mp4, _mp3_cover, _Video, _write, _write_tracks

from tiktok_analyzer.ingest.gate import _child_env, gate_file
from tiktok_analyzer.shared.errors import MediaRejected
from tiktok_analyzer.shared.settings import GateSettings

LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"
GATE = GateSettings()


def budget(examples: int) -> settings:
    return settings(max_examples=examples * (20 if LONG else 1), deadline=None,
                    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


# --- the confined probe child ----------------------------------------------------------------

WORKER = r"""
import json, resource, sys, traceback
from pathlib import Path
from tiktok_analyzer.ingest.probe import _confine, probe_file
from tiktok_analyzer.shared.errors import MediaRejected
from tiktok_analyzer.shared.settings import GateSettings

gate = GateSettings.model_validate_json(sys.stdin.readline())
_confine(gate.probe_memory_bytes, 3600)  # as the gate's child, CPU limit for many files
for line in sys.stdin:
    try:
        media, warnings = probe_file(Path(line.strip()), gate)
        out = {"outcome": "accepted", "text": " | ".join(warnings)}
    except MediaRejected as exc:
        out = {"outcome": "rejected", "text": str(exc)}
    except MemoryError:  # probe.main answers this as a rejection too
        out = {"outcome": "rejected", "text": "memory limit"}
    except BaseException as exc:
        out = {"outcome": "unhandled", "text": "".join(traceback.format_exception(exc))}
    # VmHWM, this process image's own high-water mark: ru_maxrss would also count the
    # parent's memory at fork (Linux folds it in at exec), e.g. a large pytest worker's.
    hwm = [l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM")]
    out["peak_rss"] = int(hwm[0].split()[1]) * 1024
    out["as_limit"] = resource.getrlimit(resource.RLIMIT_AS)[0]
    print(json.dumps(out), flush=True)
"""


class ProbeWorker:
    """One confined probe child, restarted when a file kills it."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.probed = 0

    def _start(self) -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-c", WORKER], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                env=_child_env())
        assert proc.stdin is not None
        proc.stdin.write(GATE.model_dump_json() + "\n")
        return proc

    def probe(self, path: Path) -> dict[str, Any] | None:
        """The child's answer, or None when the file killed it or outlasted the gate's
        timeout (the child is then replaced)."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.probed += 1
        try:
            self.proc.stdin.write(f"{path}\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            self.close()
            return None
        # The first answer includes the child's start-up.
        ready, _, _ = select.select([self.proc.stdout], [], [], GATE.probe_timeout_s + 30)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.close()
            return None
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture(scope="module")
def worker() -> Iterator[ProbeWorker]:
    w = ProbeWorker()
    yield w
    w.close()


# --- base files, and where their headers are --------------------------------------------------


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("fuzz-bases")
    short = _Video(width=64, height=112, fps=10)
    builders = {
        "mp4": lambda p: _write(p, video=short, seconds=0.5),
        "faststart.mp4": lambda p: _write(p, video=short, seconds=0.5,
                                          options={"movflags": "faststart"}),
        "fragmented.mp4": lambda p: _write(p, video=short, seconds=0.5, options={
            "movflags": "frag_keyframe+empty_moov"}),
        "webm": lambda p: _write(p, video=_Video(codec="libvpx-vp9", width=64, height=112,
                                                 fps=10, options={"deadline": "realtime",
                                                                  "cpu-used": "8"}),
                                 audio_codec="libopus", fmt="webm", seconds=0.5),
        "ts": lambda p: _write(p, video=short, seconds=0.5, fmt="mpegts"),
        "mp3": _mp3_cover,
        "aac": lambda p: _write_tracks(p, "aac", fmt="adts", seconds=0.5),
        "encrypted.mp4": _encrypted_mp4,
    }
    out = {}
    for name, build in builders.items():
        path = folder / f"base.{name}"
        build(path)
        out[name] = path.read_bytes()
    return out


def mp4_boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(offset, size) of every box header found walking the tree (sample entries included)."""
    end = len(data) if end is None else end
    found, pos = [], start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        if size < 8 or pos + size > end:
            break
        found.append((pos, size))
        skip = {b"stsd": 8, b"avc1": 78, b"encv": 78, b"mp4a": 28, b"enca": 28}.get(kind)
        if kind in (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"moof", b"traf", b"mvex",
                    b"sinf", b"schi", b"edts", b"dinf") or skip is not None:
            found += mp4_boxes(data, pos + 8 + (skip or 0), pos + size)
        pos += size
    return found


def ebml_headers(data: bytes) -> list[tuple[int, int]]:
    """(offset of the size field, its length) of EBML elements down the master elements
    (EBML header, Segment, SeekHead, Info, Tracks, TrackEntry, Cluster, ...)."""
    masters = {0x1A45DFA3, 0x18538067, 0x114D9B74, 0x1549A966, 0x1654AE6B, 0xAE, 0xE0, 0xE1,
               0x1F43B675, 0x1C53BB6B, 0x4DBB, 0xA0}
    found: list[tuple[int, int]] = []

    def walk(start: int, end: int, depth: int) -> None:
        pos = start
        while pos < end and depth < 6 and len(found) < 500:
            if data[pos] == 0:
                return
            id_len = 9 - data[pos].bit_length()
            if pos + id_len >= len(data) or data[pos + id_len] == 0:
                return
            size_len = 9 - data[pos + id_len].bit_length()
            raw = int.from_bytes(data[pos + id_len: pos + id_len + size_len], "big")
            size = raw & ((1 << (7 * size_len)) - 1)
            body = pos + id_len + size_len
            found.append((pos + id_len, size_len))
            stop = end if size == (1 << (7 * size_len)) - 1 else min(end, body + size)
            if int.from_bytes(data[pos: pos + id_len], "big") in masters:
                walk(body, stop, depth + 1)
            pos = stop

    walk(0, len(data), 0)
    return found


# --- mutations --------------------------------------------------------------------------------


@st.composite
def mutated(draw: st.DrawFn, bases: dict[str, bytes]) -> tuple[str, bytes, str]:
    """(base name, mutated bytes, what was done)."""
    name = draw(st.sampled_from(sorted(bases)))
    data = bytearray(bases[name])
    # A place in the file as it is now (earlier steps may have cut it); headers live in the
    # first 4 KiB of most files, so half the places are there.
    where = st.one_of(st.integers(0, 4095), st.integers(0, 2**31)).map(
        lambda at: at % max(1, len(data)))
    kinds = ["flip", "truncate", "splice"]
    boxes = mp4_boxes(bytes(data)) if "mp4" in name else []
    sizes = ebml_headers(bytes(data)) if name == "webm" else []
    kinds += ["box size"] * 2 if boxes else ["element size"] * 2 if sizes else []
    done = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(kinds))
        if kind == "flip":
            for at in draw(st.lists(where, min_size=1, max_size=16)):
                data[at] ^= 1 << draw(st.integers(0, 7))
            done.append("bit flips")
        elif kind == "truncate":
            cut = draw(where)
            del data[cut:]
            done.append(f"truncated at {cut}")
        elif kind == "splice":
            at = draw(where)
            if draw(st.booleans()):
                data[at:at] = draw(st.binary(min_size=1, max_size=64))
            else:
                del data[at: at + draw(st.integers(1, 64))]
            done.append(f"bytes inserted or deleted at {at}")
        elif kind == "box size":
            pos, size = draw(st.sampled_from(boxes))
            lie = draw(st.sampled_from([0, 1, 7, 8, size - 1, size + 1, size * 2, 2**31,
                                        2**32 - 1]) | st.integers(0, 2**32 - 1))
            if pos + 4 <= len(data):
                data[pos: pos + 4] = struct.pack(">I", lie)
            done.append(f"box at {pos}: size {size} -> {lie}")
        else:
            pos, length = draw(st.sampled_from(sizes))
            lie = draw(st.integers(0, (1 << (7 * length)) - 1))
            if pos + length <= len(data):
                data[pos: pos + length] = ((1 << (8 - length)) << (8 * (length - 1))
                                           | lie).to_bytes(length, "big")
            done.append(f"element size at {pos} -> {lie}")
        if not data:
            break
    return name, bytes(data), "; ".join(done)


# --- properties -------------------------------------------------------------------------------


def judge_via_gate(path: Path, how: str) -> None:
    """The parent side: whatever the child did, an outcome with a reason."""
    try:
        gate_file(path)
    except MediaRejected as exc:
        assert str(exc), how


def check(worker: ProbeWorker, path: Path, how: str, through_gate: bool) -> None:
    answer = worker.probe(path)
    if answer is None:  # killed or stalled: the gate must still answer with a reason
        judge_via_gate(path, how)
        return
    assert answer["outcome"] != "unhandled", f"{how}:\n{answer['text']}"
    assert answer["outcome"] == "accepted" or answer["text"], how
    assert answer["as_limit"] == GATE.probe_memory_bytes, "the probe child is not confined"
    assert answer["peak_rss"] <= GATE.probe_memory_bytes, f"{how}: peak {answer['peak_rss']}"
    if through_gate:
        judge_via_gate(path, how)


@budget(80)
@given(data=st.data())
def test_mutated_media_always_gets_an_outcome_with_a_reason(
        data: st.DataObject, bases: dict[str, bytes], worker: ProbeWorker,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    name, body, how = data.draw(mutated(bases))
    path = tmp_path_factory.getbasetemp() / f"fuzzed.{name}"
    path.write_bytes(body)
    # One in 30 also through the gate's own child and parent (a second each).
    check(worker, path, f"{name}: {how}", through_gate=data.draw(st.integers(0, 29)) == 0)


def test_the_bases_are_accepted_and_the_encrypted_one_rejected(
        bases: dict[str, bytes], worker: ProbeWorker,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """Unmutated, every base is ordinary media: the mutations start from files the gate
    accepts (else they would only test rejection)."""
    for name, body in bases.items():
        path = tmp_path_factory.getbasetemp() / f"base-check.{name}"
        path.write_bytes(body)
        answer = worker.probe(path)
        assert answer is not None, name
        want = "rejected" if name == "encrypted.mp4" else "accepted"
        assert answer["outcome"] == want, f"{name}: {answer['text']}"
