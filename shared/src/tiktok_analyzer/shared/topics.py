"""Topic names and partition counts: the one place they are defined."""

from __future__ import annotations

from dataclasses import dataclass

from tiktok_analyzer.shared.events import Group


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    purpose: str
    configs: tuple[tuple[str, str], ...] = ()


UPLOADS = Topic("tiktok.uploads", 6, "MinIO bucket notifications for the upload bucket")
SCRAPED = Topic(
    "tiktok.scraper.videos", 6,
    "ScrapedVideo: upstream scrapers announce a stored video with its platform metadata")
VIDEOS = Topic("tiktok.videos.accepted", 6, "VideoAccepted, consumed by frame_sampler")
FRAMES_HEAVY = Topic("tiktok.frames.gpu_heavy", 6, "FrameBatch for the gpu_heavy group")
FRAMES_LIGHT = Topic("tiktok.frames.gpu_light", 6, "FrameBatch for the gpu_light group")
AUDIO_CHUNKS = Topic("tiktok.audio.chunks", 6, "AudioChunk for the audio group")
AGGREGATOR_IN = Topic(
    "tiktok.results.partial",
    6,
    "VideoAccepted, SamplingManifest, PartialResult, VideoRejected, VideoMetadata: all the "
    "aggregator joins",
)
REPORTS = Topic(
    "tiktok.reports", 6,
    "FinalReport keyed by video_id; compacted, so the highest report_version of a video remains",
    configs=(("cleanup.policy", "compact"),))

DEADLETTER = Topic(
    "tiktok.deadletter", 3,
    "Messages a consumer could not accept (invalid JSON, schema, unknown version, oversize), "
    "with the reason, error kind, consumer group and source topic/partition/offset in headers"
)

ALL_TOPICS = (UPLOADS, SCRAPED, VIDEOS, FRAMES_HEAVY, FRAMES_LIGHT, AUDIO_CHUNKS, AGGREGATOR_IN,
              REPORTS, DEADLETTER)

INPUT_TOPIC_BY_GROUP = {
    Group.GPU_HEAVY: FRAMES_HEAVY,
    Group.GPU_LIGHT: FRAMES_LIGHT,
    Group.AUDIO: AUDIO_CHUNKS,
}

# Consumer group of each service: what KEDA's lag trigger and the lag metric watch.
CONSUMER_GROUPS = {
    "ingest": "tiktok-ingest",
    "frame_sampler": "tiktok-frame-sampler",
    "gpu_heavy": f"tiktok-{Group.GPU_HEAVY}",
    "gpu_light": f"tiktok-{Group.GPU_LIGHT}",
    "audio": f"tiktok-{Group.AUDIO}",
    "aggregator": "tiktok-aggregator",
}

# The topics each service consumes (its lag is measured on these).
INPUT_TOPICS = {
    "ingest": (UPLOADS, SCRAPED),
    "frame_sampler": (VIDEOS,),
    "gpu_heavy": (FRAMES_HEAVY,),
    "gpu_light": (FRAMES_LIGHT,),
    "audio": (AUDIO_CHUNKS,),
    "aggregator": (AGGREGATOR_IN,),
}
