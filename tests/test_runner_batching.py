"""The runner's model calls across batches: packing frames of several batches (of different
videos) into calls of the batch size, splitting the records back per batch, halving a call on
a CUDA out-of-memory error, and keeping one batch's failure to that batch.

The analyzers here are test analyzers that record the calls they get and raise
``torch.cuda.OutOfMemoryError`` above a given number of frames, as a GPU that is short of
memory does: what is under test is the runner's handling, not a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch

from tiktok_analyzer.shared.contracts.events import AnalyzerStatus, Group
from tiktok_analyzer.shared.contracts.results import StrictRecord
from tiktok_analyzer.shared.runtime.analyzers import (
    Analyzer,
    AnalyzerConfig,
    DecodedFrame,
    FramePolicy,
    FramesInput,
    GroupRunner,
    LoadContext,
    pack_calls,
)
from tiktok_analyzer.shared.runtime.gpu import is_out_of_memory
from tiktok_analyzer.shared.runtime.models import ModelStore


class Seen(StrictRecord):
    video: str
    index: int


class Counting(Analyzer[AnalyzerConfig, FramesInput, Seen, AnalyzerConfig]):  # type: ignore[type-var]
    """Records every call's frame count; over ``fits`` frames in one call, runs out of GPU
    memory; a frame with index in ``poison`` fails with ``error``."""

    key: ClassVar[str] = "counting"
    group: ClassVar[Group] = Group.GPU_HEAVY
    batch_size: ClassVar[int] = 4
    inputs = FramePolicy()
    record_model = Seen

    def __init__(self, fits: int = 1000, poison: frozenset[int] = frozenset(),
                 error: Exception | None = None) -> None:
        super().__init__()
        self.fits, self.poison, self.error = fits, poison, error
        self.calls: list[list[tuple[str, int]]] = []

    def process(self, batch: FramesInput) -> list[Seen]:
        return list(self.process_many([batch])[0])

    def process_many(self, batches: Sequence[FramesInput]) -> list[Sequence[Seen]]:
        frames = [(b.video_id, f.index) for b in batches for f in b.frames]
        self.calls.append(frames)
        if len(frames) > self.fits:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if any(i in self.poison for _, i in frames):
            raise self.error or torch.cuda.OutOfMemoryError("CUDA out of memory (one frame)")
        return [[Seen(t=f.t, video=b.video_id, index=f.index) for f in b.frames]
                for b in batches]


def batch(video: str, index: int, frames: range) -> FramesInput:
    pixel = np.zeros((2, 2, 3), np.uint8)
    return FramesInput(video, index, [DecodedFrame(i, i / 2, pixel) for i in frames])


def runner(analyzer: Counting, tmp_path: Path) -> GroupRunner:
    r = GroupRunner(Group.GPU_HEAVY, [analyzer],
                    LoadContext(model_store=ModelStore(tmp_path), device="cpu"))
    r.load()
    return r


def seen(outcome_records: Sequence[object]) -> list[tuple[str, int]]:
    return [(r.video, r.index) for r in outcome_records if isinstance(r, Seen)]


BATCHES = [batch("a", 0, range(0, 3)), batch("b", 0, range(10, 13)), batch("c", 5, range(20, 22))]


def test_frames_of_several_videos_share_calls_and_come_back_per_batch(tmp_path: Path) -> None:
    analyzer = Counting()
    results = runner(analyzer, tmp_path).run_many(BATCHES)
    assert [len(c) for c in analyzer.calls] == [4, 4]  # 3 + 3 + 2 frames in calls of 4
    assert analyzer.calls[0] == [("a", 0), ("a", 1), ("a", 2), ("b", 10)]
    for (outcome,), b in zip(results, BATCHES, strict=True):
        assert outcome.status is AnalyzerStatus.OK
        assert seen(outcome.records) == [(b.video_id, f.index) for f in b.frames]


def test_pack_calls_cuts_batches_in_order_and_keeps_signals_with_the_first_part() -> None:
    calls = pack_calls(list(enumerate(BATCHES)), 5)
    assert [[(p.owner, [f.index for f in p.input.frames])  # type: ignore[union-attr]
             for p in call] for call in calls] == [
        [(0, [0, 1, 2]), (1, [10, 11])], [(1, [12]), (2, [20, 21])]]


def test_out_of_memory_halves_the_call_until_it_fits(tmp_path: Path) -> None:
    analyzer = Counting(fits=2)
    analyzer.config = AnalyzerConfig(batch_size=8)
    results = runner(analyzer, tmp_path).run_many(BATCHES)
    assert [len(c) for c in analyzer.calls] == [8, 4, 2, 2, 4, 2, 2]
    for (outcome,), b in zip(results, BATCHES, strict=True):
        assert outcome.status is AnalyzerStatus.OK
        assert seen(outcome.records) == [(b.video_id, f.index) for f in b.frames]


@pytest.mark.parametrize("error", [
    torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"),
    RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB (cuDNN workspace)"),
], ids=["OutOfMemoryError", "RuntimeError"])
def test_a_frame_that_alone_does_not_fit_fails_its_batch_and_the_runner_goes_on(
        tmp_path: Path, error: Exception) -> None:
    analyzer = Counting(poison=frozenset({11}), error=error)
    r = runner(analyzer, tmp_path)
    (a,), (b,), (c,) = r.run_many(BATCHES)
    assert a.status is AnalyzerStatus.OK and c.status is AnalyzerStatus.OK
    assert seen(a.records) == [("a", 0), ("a", 1), ("a", 2)]
    assert b.status is AnalyzerStatus.FAILED and b.records == []
    assert b.reason is not None and b.reason.startswith("out of GPU memory on a single frame")
    assert "Tried to allocate 20.00 GiB" in b.reason
    assert [11] in [[n for _, n in call] for call in analyzer.calls]  # frame 11 tried alone
    # The next batch of the same video gets the runner's full batch size again.
    analyzer.calls.clear()
    ((after,),) = r.run_many([batch("b", 1, range(13, 17))])
    assert after.status is AnalyzerStatus.OK and [len(c) for c in analyzer.calls] == [4]


def test_another_error_fails_only_the_batch_that_causes_it(tmp_path: Path) -> None:
    analyzer = Counting(poison=frozenset({20}), error=ValueError("corrupt frame"))
    (a,), (b,), (c,) = runner(analyzer, tmp_path).run_many(BATCHES)
    assert (a.status, b.status, c.status) == (
        AnalyzerStatus.OK, AnalyzerStatus.OK, AnalyzerStatus.FAILED)
    assert c.reason == "ValueError: corrupt frame"
    assert seen(b.records) == [("b", 10), ("b", 11), ("b", 12)]


def test_out_of_memory_is_told_from_other_errors() -> None:
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("x"))
    assert is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 1 GiB"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(MemoryError())
