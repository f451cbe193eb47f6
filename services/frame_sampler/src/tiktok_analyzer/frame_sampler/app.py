"""The frame_sampler service: accepted videos in, frame batches, audio chunks and a manifest out.

Decoding runs in a worker thread and each event is published as soon as it is produced, so
analyzers start before decoding ends. Commit order: publish every batch, then the manifest,
then commit the offset. A crash before the commit re-samples the video; the batches carry the
same (video, group, batch) keys, so the aggregator keeps one of each.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaMessage

from tiktok_analyzer.frame_sampler.stage import sample_video
from tiktok_analyzer.shared.blobs import MinioBlobStore, PayloadPacker
from tiktok_analyzer.shared.events import AudioChunk, FrameBatch, VideoAccepted
from tiktok_analyzer.shared.kafka import adapter_for, decode_or_deadletter, make_broker, publish
from tiktok_analyzer.shared.service import run
from tiktok_analyzer.shared.settings import SamplingSettings, StorageSettings
from tiktok_analyzer.shared.topics import AGGREGATOR_IN, AUDIO_CHUNKS, INPUT_TOPIC_BY_GROUP, VIDEOS

log = logging.getLogger(__name__)
broker = make_broker()
app = FastStream(broker)
accepted_adapter = adapter_for(VideoAccepted)


def _sample_and_publish(accepted: VideoAccepted, loop: asyncio.AbstractEventLoop) -> None:
    storage, sampling = StorageSettings(), SamplingSettings()
    store = MinioBlobStore.from_settings()
    packer = PayloadPacker(store, storage.work_bucket, sampling.inline_limit_bytes)
    with tempfile.TemporaryDirectory(prefix="sampler-") as tmp:
        local = Path(tmp) / "input"
        store.download(accepted.source.bucket, accepted.source.key, local)
        for event in sample_video(local, accepted, packer, sampling):
            if isinstance(event, FrameBatch):
                topic = INPUT_TOPIC_BY_GROUP[event.group]
            elif isinstance(event, AudioChunk):
                topic = AUDIO_CHUNKS
            else:
                topic = AGGREGATOR_IN
            # Waiting on each publish gives backpressure: decoding never runs far ahead of Kafka.
            asyncio.run_coroutine_threadsafe(publish(broker, event, topic), loop).result()
    log.info("sampled %s (%d payloads inline, %d stored)", accepted.video_id,
             packer.inline_count, packer.stored_count)


@broker.subscriber(VIDEOS.name,
                   group_id="tiktok-frame-sampler", ack_policy=AckPolicy.NACK_ON_ERROR,
                   auto_offset_reset="earliest")
async def on_video(msg: KafkaMessage) -> None:
    accepted = await decode_or_deadletter(broker, msg, accepted_adapter)
    if accepted is None:
        return
    await asyncio.to_thread(_sample_and_publish, accepted, asyncio.get_running_loop())


def main() -> None:
    run(app)


if __name__ == "__main__":
    main()
