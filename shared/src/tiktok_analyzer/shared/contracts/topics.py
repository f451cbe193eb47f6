"""The topology, defined once: every topic (name, partitions, configs) and every service
(its consumer group, the topics it consumes, its observability port, its entry point). The
CLI, the chaos harness, the tests and the compose/Kubernetes checks all read this table."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tiktok_analyzer.shared.contracts.events import Group


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

class Service(StrEnum):
    """The six services, in pipeline order."""

    INGEST = "ingest"
    FRAME_SAMPLER = "frame_sampler"
    GPU_HEAVY = "gpu_heavy"
    GPU_LIGHT = "gpu_light"
    AUDIO = "audio"
    AGGREGATOR = "aggregator"


@dataclass(frozen=True)
class ServiceSpec:
    service: Service
    consumer_group: str
    """What KEDA's lag trigger and the lag metric watch."""
    inputs: tuple[Topic, ...]
    """The topics it consumes (its lag is measured on these)."""
    obs_port: int
    """Default port of /metrics and /healthz/*: distinct, so the six run side by side on one
    host; containers keep them too (TIKTOK_OBS_PORT overrides)."""
    group: Group | None = None
    """The analyzer group it runs, for the three analyzer services."""

    @property
    def dashed(self) -> str:
        return self.service.replace("_", "-")

    @property
    def entry_point(self) -> str:
        """Its console script (also its Docker image's entry point)."""
        return f"tiktok-analyzer-{self.dashed}"

    @property
    def module(self) -> str:
        """Its app module, for ``python -m``."""
        return f"tiktok_analyzer.{self.service}.app"


SERVICES: dict[Service, ServiceSpec] = {spec.service: spec for spec in (
    ServiceSpec(Service.INGEST, "tiktok-ingest", (UPLOADS, SCRAPED), 9101),
    ServiceSpec(Service.FRAME_SAMPLER, "tiktok-frame-sampler", (VIDEOS,), 9102),
    ServiceSpec(Service.GPU_HEAVY, f"tiktok-{Group.GPU_HEAVY}", (FRAMES_HEAVY,), 9103,
                Group.GPU_HEAVY),
    ServiceSpec(Service.GPU_LIGHT, f"tiktok-{Group.GPU_LIGHT}", (FRAMES_LIGHT,), 9104,
                Group.GPU_LIGHT),
    ServiceSpec(Service.AUDIO, f"tiktok-{Group.AUDIO}", (AUDIO_CHUNKS,), 9105, Group.AUDIO),
    ServiceSpec(Service.AGGREGATOR, "tiktok-aggregator", (AGGREGATOR_IN,), 9106),
)}

ANALYZER_SERVICES = tuple(s for s, spec in SERVICES.items() if spec.group is not None)


def service_for(group: Group) -> ServiceSpec:
    return next(spec for spec in SERVICES.values() if spec.group is group)
