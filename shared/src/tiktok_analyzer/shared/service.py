"""The one shape of the three analyzer consumer services (gpu_heavy, gpu_light, audio).

Each consumes its group's input topic, runs its analyzers on every batch in a worker thread
(the event loop keeps heartbeating), and publishes one partial result per batch.

Commit order, per message: analyze, publish the partial result (acks=all), then commit the
offset (FastStream acks after the handler returns). A crash in between replays the batch,
and the aggregator keeps one result per (video, group, batch), so the replay is harmless.
"""

from __future__ import annotations

import asyncio
import logging

from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaMessage

from tiktok_analyzer.shared.analyzers import GroupRunner, make_runner
from tiktok_analyzer.shared.blobs import MinioBlobStore
from tiktok_analyzer.shared.consume import analyze_batch
from tiktok_analyzer.shared.events import AudioChunk, FrameBatch, Group
from tiktok_analyzer.shared.kafka import adapter_for, decode_or_deadletter, make_broker, publish
from tiktok_analyzer.shared.models import ModelStore
from tiktok_analyzer.shared.settings import ModelStoreSettings, PipelineSettings
from tiktok_analyzer.shared.topics import AGGREGATOR_IN, INPUT_TOPIC_BY_GROUP

log = logging.getLogger(__name__)


def consumer_app(group: Group) -> FastStream:
    broker = make_broker()
    app = FastStream(broker)
    adapter = adapter_for(AudioChunk if group is Group.AUDIO else FrameBatch)
    state: dict[str, object] = {}
    group_id = f"tiktok-{group}"

    @app.on_startup
    async def load_models() -> None:
        models = ModelStoreSettings()
        keys = PipelineSettings().for_group(group)
        state["runner"] = await asyncio.to_thread(
            make_runner, group, keys, ModelStore(models.store), models.device)
        state["store"] = MinioBlobStore.from_settings()
        log.info("%s ready with analyzers %s", group, keys)

    @app.on_shutdown
    async def unload() -> None:
        runner = state.get("runner")
        if isinstance(runner, GroupRunner):
            runner.close()

    @broker.subscriber(
        INPUT_TOPIC_BY_GROUP[group].name,
        group_id=group_id,
        # Committed only after the partial result is published (or the message dead-lettered).
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    async def on_batch(msg: KafkaMessage) -> None:
        event = await decode_or_deadletter(broker, msg, adapter, group=group_id)
        if event is None:
            return
        runner, store = state["runner"], state["store"]
        partial = await asyncio.to_thread(analyze_batch, runner, event, store)  # type: ignore[arg-type]
        await publish(broker, partial, AGGREGATOR_IN)

    return app


def run(app: FastStream) -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(app.run())
