"""The ingest service: MinIO notifications in, accepted or rejected video events out.

Commit order: gate the object, publish the outcome (acks=all), then commit the offset. A
replayed notification yields the same video ID (see ``identity``), so downstream sees one video.
"""

from __future__ import annotations

import asyncio
import logging

from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaMessage

from tiktok_analyzer.ingest.notifications import MinioNotification
from tiktok_analyzer.ingest.stage import ingest_object
from tiktok_analyzer.shared.blobs import MinioBlobStore
from tiktok_analyzer.shared.events import VideoAccepted
from tiktok_analyzer.shared.kafka import adapter_for, decode_or_deadletter, make_broker, publish
from tiktok_analyzer.shared.service import run
from tiktok_analyzer.shared.topics import AGGREGATOR_IN, UPLOADS, VIDEOS

log = logging.getLogger(__name__)
broker = make_broker()
app = FastStream(broker)
notification = adapter_for(MinioNotification)
store: list[MinioBlobStore] = []


@app.on_startup
async def connect_store() -> None:
    store.append(MinioBlobStore.from_settings())


@broker.subscriber(UPLOADS.name, group_id="tiktok-ingest", ack_policy=AckPolicy.NACK_ON_ERROR,
                   auto_offset_reset="earliest")
async def on_upload(msg: KafkaMessage) -> None:
    note = await decode_or_deadletter(broker, msg, notification)
    if note is None:
        return
    for ref in note.created_objects():
        outcome = await asyncio.to_thread(ingest_object, ref, store[0])
        if isinstance(outcome, VideoAccepted):
            log.info("accepted %s/%s as %s", ref.bucket, ref.key, outcome.video_id)
            await publish(broker, outcome, VIDEOS)
        else:
            log.info("rejected %s/%s: %s", ref.bucket, ref.key, outcome.reason)
            await publish(broker, outcome, AGGREGATOR_IN)


def main() -> None:
    run(app)


if __name__ == "__main__":
    main()
