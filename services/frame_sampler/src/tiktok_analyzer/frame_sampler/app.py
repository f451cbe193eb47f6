"""The frame_sampler service: accepted videos in, frame batches, audio chunks and a manifest out.

Decoding runs in a worker thread and each event is published as soon as it is produced, so
analyzers start before decoding ends. Commit order: publish every batch, then the manifest,
then write the ledger's "sampled" record, then commit the offset. A crash before the commit
re-samples the video; the batches carry the same (video, group, batch) keys, so the aggregator
keeps one of each.

One video, one sampling: every VideoAccepted of a video ID lands in the same partition, so the
sampler that owns it sees them one after another, and drops any whose video it has already
sampled (a duplicate arrival that raced through ingest, or a redelivery after the record).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from faststream import AckPolicy, Context, ContextRepo, FastStream
from faststream.kafka import KafkaMessage

from tiktok_analyzer.frame_sampler.stage import sample_video
from tiktok_analyzer.shared.contracts.events import (
    AudioChunk,
    FrameBatch,
    SamplingManifest,
    VideoAccepted,
    VideoRejected,
)
from tiktok_analyzer.shared.contracts.topics import (
    AGGREGATOR_IN,
    AUDIO_CHUNKS,
    INPUT_TOPIC_BY_GROUP,
    SERVICES,
    VIDEOS,
    Service,
)
from tiktok_analyzer.shared.errors import PayloadError
from tiktok_analyzer.shared.infra.blobs import MinioBlobStore, PayloadPacker
from tiktok_analyzer.shared.infra.kafka import (
    Poison,
    adapter_for,
    dead_letter,
    decode_or_deadletter,
    make_broker,
    publish,
)
from tiktok_analyzer.shared.infra.ledger import Ledger
from tiktok_analyzer.shared.infra.status import Stage, StatusBoard, ThrottledStatus
from tiktok_analyzer.shared.observability import metrics
from tiktok_analyzer.shared.runtime.consume import RetrySettings
from tiktok_analyzer.shared.service import observe, run
from tiktok_analyzer.shared.settings import (
    IngestSettings,
    PipelineSettings,
    SamplingSettings,
    StorageSettings,
)

log = logging.getLogger(__name__)
broker = make_broker(service="frame_sampler")
app = FastStream(broker)
accepted_adapter = adapter_for(VideoAccepted)
GROUP = SERVICES[Service.FRAME_SAMPLER].consumer_group


@dataclass(frozen=True)
class SamplerDeps:
    """What the handler shares, made once at start-up and handed to it through FastStream's
    context."""

    store: MinioBlobStore
    ledger: Ledger
    board: StatusBoard
    storage: StorageSettings
    sampling: SamplingSettings
    pipeline: PipelineSettings


Deps = Annotated[SamplerDeps, Context("deps")]


@app.on_startup
async def connect(context: ContextRepo) -> None:
    storage = StorageSettings()
    store = MinioBlobStore.from_settings()
    context.set_global("deps", SamplerDeps(
        store=store, ledger=Ledger(store, storage.work_bucket, IngestSettings().ledger_prefix),
        board=StatusBoard(store, storage.work_bucket), storage=storage,
        sampling=SamplingSettings(), pipeline=PipelineSettings()))


def _reached_s(event: FrameBatch | AudioChunk) -> float:
    if isinstance(event, AudioChunk):
        return event.start_s + event.num_samples / event.sample_rate
    if event.signals is not None:  # they cover every decoded frame up to their end
        return event.signals.end_t
    return event.frames[-1].t if event.frames else 0.0


class _FrameCounter:
    """Feeds the frame counters as events come out: sampled frames per group, and decoded
    frames as far as the frame indexes (decode order, shared by the groups) show decoding
    has got; at the manifest, the rest of the decoded duration."""

    def __init__(self, fps: float | None) -> None:
        self.fps = fps
        self.decoded = 0

    def _decoded_to(self, frames: int) -> None:
        if frames > self.decoded:
            metrics.SAMPLER_DECODED_FRAMES.labels(metrics.service()).inc(frames - self.decoded)
            self.decoded = frames

    def batch(self, event: FrameBatch) -> None:
        if event.frames:
            metrics.SAMPLER_SAMPLED_FRAMES.labels(metrics.service(), str(event.group)).inc(
                len(event.frames))
            self._decoded_to(max(f.index for f in event.frames) + 1)
        if event.signals is not None:
            self._decoded_to(event.signals.start_index + len(event.signals.times))

    def manifest(self, event: SamplingManifest) -> None:
        if self.fps and event.decoded_duration_s:
            self._decoded_to(round(event.decoded_duration_s * self.fps))


def _sample_and_publish(deps: SamplerDeps, accepted: VideoAccepted,
                        loop: asyncio.AbstractEventLoop) -> None:
    packer = PayloadPacker(deps.store, deps.storage.work_bucket, deps.sampling.inline_limit_bytes)
    status = ThrottledStatus(deps.board, accepted.video_id, "frame_sampler")
    duration = accepted.media.duration_s
    sent: dict[str, int] = {}
    frames = _FrameCounter(accepted.media.fps)
    with tempfile.TemporaryDirectory(prefix="sampler-") as tmp:
        local = Path(tmp) / "input"
        try:
            deps.store.download(accepted.source.bucket, accepted.source.key, local)
        except PayloadError as exc:
            # Gone since ingest read it (deleted, or its version replaced): retrying would
            # block the partition for good, so the video ends with a rejection instead.
            rejected = VideoRejected(video_id=accepted.video_id, source=accepted.source,
                                     reason=f"the sampler could not read the video: {exc}")
            asyncio.run_coroutine_threadsafe(publish(broker, rejected, AGGREGATOR_IN),
                                             loop).result()
            deps.ledger.mark_sampled(accepted.video_id, accepted)
            return
        status.update(Stage.SAMPLING, progress=0.0)
        for event in sample_video(local, accepted, packer, deps.sampling, deps.pipeline):
            if isinstance(event, FrameBatch):
                topic = INPUT_TOPIC_BY_GROUP[event.group]
                frames.batch(event)
            elif isinstance(event, AudioChunk):
                topic = AUDIO_CHUNKS
            else:
                topic = AGGREGATOR_IN
                if isinstance(event, SamplingManifest):
                    frames.manifest(event)
            # Waiting on each publish gives backpressure: decoding never runs far ahead of Kafka.
            asyncio.run_coroutine_threadsafe(publish(broker, event, topic), loop).result()
            if isinstance(event, FrameBatch | AudioChunk):
                sent[str(event.group)] = sent.get(str(event.group), 0) + 1
                status.update(Stage.SAMPLING, counts=sent,
                              progress=_reached_s(event) / duration if duration else None)
    deps.ledger.mark_sampled(accepted.video_id, accepted)
    status.update(Stage.SAMPLED, counts=sent, progress=1.0)
    log.info("sampled %s (%d payloads inline, %d stored)", accepted.video_id,
             packer.inline_count, packer.stored_count)


# NACK_ON_ERROR: the offset is committed only after sampling finished (or the message was
# dead-lettered); a failure is redelivered, never skipped.
@broker.subscriber(VIDEOS.name,
                   group_id=GROUP, ack_policy=AckPolicy.NACK_ON_ERROR,
                   auto_offset_reset="earliest")
async def on_video(msg: KafkaMessage, deps: Deps) -> None:
    accepted = await decode_or_deadletter(broker, msg, accepted_adapter, group=GROUP)
    if accepted is None:
        return
    if await asyncio.to_thread(deps.ledger.sampled, accepted.video_id):
        log.info("video %s already sampled: duplicate arrival %s/%s dropped", accepted.video_id,
                 accepted.source.bucket, accepted.source.key)
        return
    retry = RetrySettings()
    for attempt in range(retry.attempts):
        try:
            await asyncio.to_thread(_sample_and_publish, deps, accepted,
                                    asyncio.get_running_loop())
            return
        except Exception as exc:
            failure = exc
            log.exception("sampling %s failed (try %d of %d)", accepted.video_id, attempt + 1,
                          retry.attempts)
            if attempt + 1 < retry.attempts:
                await asyncio.sleep(retry.backoff_s * 2 ** attempt)
    # Always failing (outages are waited out below this, so this is the file or a bug):
    # re-delivering it forever would block the partition, so the video ends with a rejection
    # saying why, and the message is kept on the dead-letter topic.
    reason = (f"the sampler failed {retry.attempts} times: {type(failure).__name__}: "
              f"{failure}")[:500]
    await dead_letter(broker, msg, Poison("handler_error", reason), GROUP)
    await publish(broker, VideoRejected(video_id=accepted.video_id, source=accepted.source,
                                        reason=reason), AGGREGATOR_IN)
    await asyncio.to_thread(deps.ledger.mark_sampled, accepted.video_id, accepted)


observe(app, "frame_sampler")


def main() -> None:
    run(app)


if __name__ == "__main__":
    main()
