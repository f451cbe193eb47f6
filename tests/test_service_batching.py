"""The analyzer services' Kafka edge takes several messages at once (FastStream's batch
subscriber) and hands them to the runner together: one partial result per message, a poison
message dead-lettered alone, the others analyzed in shared model calls.

FastStream's in-memory test broker stands in for Kafka here (the real-broker tier runs the
same handler in ``test_pipeline_kafka``); the analyzer is a test analyzer that records its
calls, since what is under test is the edge's packing, not a model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from faststream.kafka import KafkaBroker, TestKafkaBroker

from tiktok_analyzer.shared.contracts.events import (
    AnalyzerStatus,
    FrameBatch,
    Group,
    InlineBlob,
    SampledFrame,
)
from tiktok_analyzer.shared.contracts.results import StrictRecord
from tiktok_analyzer.shared.contracts.topics import AGGREGATOR_IN, DEADLETTER, INPUT_TOPIC_BY_GROUP
from tiktok_analyzer.shared.infra.kafka import encode
from tiktok_analyzer.shared.runtime.analyzers import (
    Analyzer,
    AnalyzerConfig,
    FramePolicy,
    FramesInput,
    GroupRunner,
    LoadContext,
)
from tiktok_analyzer.shared.runtime.models import ModelStore
from tiktok_analyzer.shared.service import ConsumerDeps, consumer_app


class Mean(StrictRecord):
    mean: float


class Calls(Analyzer[AnalyzerConfig, FramesInput, Mean, Any]):
    key: ClassVar[str] = "calls"
    group: ClassVar[Group] = Group.GPU_HEAVY
    batch_size: ClassVar[int] = 8
    inputs = FramePolicy()
    record_model = Mean
    calls: ClassVar[list[list[str]]] = []

    def process(self, batch: FramesInput) -> list[Mean]:
        return [Mean(t=f.t, mean=float(f.rgb.mean())) for f in batch.frames]

    def process_many(self, batches: Sequence[FramesInput]) -> list[list[Mean]]:
        self.calls.append([b.video_id for b in batches for _ in b.frames])
        return [self.process(b) for b in batches]


def jpeg(value: int) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(out, format="JPEG")
    return out.getvalue()


def frames_of(video: str, value: int) -> FrameBatch:
    return FrameBatch(video_id=video, group=Group.GPU_HEAVY, batch_index=0, frames=[
        SampledFrame(index=i, t=i / 2, width=8, height=8, jpeg=InlineBlob(data=jpeg(value)))
        for i in range(3)])


def test_messages_taken_together_share_model_calls(tmp_path: Path) -> None:
    app = consumer_app(Group.GPU_HEAVY)
    broker = app.broker
    assert isinstance(broker, KafkaBroker)
    runner = GroupRunner(Group.GPU_HEAVY, [Calls()],
                         LoadContext(model_store=ModelStore(tmp_path), device="cpu"))
    runner.load()
    app.context.set_global("deps", ConsumerDeps(runner, None))  # type: ignore[arg-type]  # inline payloads
    partials: list[dict[str, Any]] = []
    letters: list[bytes] = []

    @broker.subscriber(AGGREGATOR_IN.name)
    async def collect(body: dict[str, Any]) -> None:
        partials.append(body)

    @broker.subscriber(DEADLETTER.name)
    async def dead(body: bytes) -> None:
        letters.append(body)

    async def scenario() -> None:
        async with TestKafkaBroker(broker) as test_broker:
            await test_broker.publish_batch(
                encode(frames_of("a", 40)), b"{not json", encode(frames_of("b", 200)),
                encode(frames_of("c", 120)), topic=INPUT_TOPIC_BY_GROUP[Group.GPU_HEAVY].name)

    Calls.calls.clear()
    asyncio.run(scenario())
    # Three good messages, nine frames, calls of up to eight: two calls across the videos.
    assert Calls.calls == [["a"] * 3 + ["b"] * 3 + ["c"] * 2, ["c"]]
    assert [p["video_id"] for p in partials] == ["a", "b", "c"]
    for partial, value in zip(partials, [40, 200, 120], strict=True):
        (run,) = partial["runs"]
        assert run["status"] == AnalyzerStatus.OK
        assert [round(r["mean"]) for r in run["records"]] == [value] * 3  # JPEG, near enough
    assert letters == [b"{not json"]
