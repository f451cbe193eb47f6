"""Every event that crosses a topic, defined once.

Each model carries ``schema_version`` and a ``kind`` tag. Consumers validate against these models;
the JSON Schemas in ``docs/schemas/`` are generated from them (``tiktok-analyzer schemas``), never
written by hand. Every message is keyed by ``video_id`` so that all messages of one video land in
the same partition of every topic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


def utc_now() -> datetime:
    return datetime.now(UTC)


class Model(BaseModel):
    """Base for every message: immutable, strict about unknown keys, bytes as base64 in JSON.

    Infinite and NaN floats, which a producer's JSON may carry and validation lets through,
    are written as the strings "Infinity" and "NaN" (which validate back to the same floats):
    pydantic's default writes null, which a required float field then refuses, so a service
    could not read back the event or report it had just written.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64",
        ser_json_inf_nan="strings",
    )


class Group(StrEnum):
    """The analyzer groups; each is served by one consumer service."""

    GPU_HEAVY = "gpu_heavy"
    GPU_LIGHT = "gpu_light"
    AUDIO = "audio"


# --- payloads: inline bytes or a reference to an object in the blob store -------------------


class InlineBlob(Model):
    where: Literal["inline"] = "inline"
    data: bytes


class StoredBlob(Model):
    where: Literal["stored"] = "stored"
    bucket: str
    key: str
    size: int


Blob = Annotated[InlineBlob | StoredBlob, Field(discriminator="where")]


# --- ingest ---------------------------------------------------------------------------------


class ObjectRef(Model):
    """Where a video file lives in the object store."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None


class StreamInfo(Model):
    index: int
    kind: Literal["video", "audio", "other"]
    codec: str | None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    sample_rate: int | None = None
    channels: int | None = None


class MediaInfo(Model):
    """What the probe learned about a file before any full decode."""

    container: str
    duration_s: float | None
    size_bytes: int
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    audio_sample_rate: int | None = None
    rotation_deg: int = Field(default=0, description="Display rotation, clockwise degrees")
    pixel_aspect: float = Field(default=1.0, description="Sample (pixel) aspect ratio, w/h")
    start_s: float = Field(default=0.0, description="Container start time (a start offset)")
    variable_frame_rate: bool = False
    has_alpha: bool = False
    streams: list[StreamInfo] = Field(default_factory=list)
    video_stream_index: int | None = Field(
        default=None, description="The stream analyzed as video (cover pictures are never "
                                  "chosen); absent in older events: the first video stream")
    audio_stream_index: int | None = Field(
        default=None, description="The stream analyzed as audio, the file's main mix; absent "
                                  "in older events: the first audio stream")


class UpstreamInfo(Model):
    """What a scraper knows about a video on its platform."""

    platform: str = Field(default="tiktok", examples=["tiktok"])
    platform_video_id: str = Field(examples=["7301234567890123456"])
    author: str | None = Field(default=None, examples=["@dancingcat"])
    caption: str | None = Field(default=None, examples=["new routine #dance #fyp"])
    hashtags: list[str] = Field(default_factory=list, examples=[["dance", "fyp"]])
    uploaded_at: datetime | None = Field(
        default=None, description="When the video was posted on the platform")


class ScrapedVideo(Model):
    """The upstream contract: what a scraper publishes on ``tiktok.scraper.videos`` after it has
    stored the file in MinIO. Key the message by ``object.bucket + "/" + object.key``.

    The object reference needs only bucket and key; ingest reads version and ETag from MinIO.
    If the same object also raises a bucket notification, both arrivals map to one video ID
    (the SHA-256 of the bytes) and produce one report, which carries this metadata.
    """

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "schema_version": 1,
        "kind": "scraper.video",
        "object": {"bucket": "uploads", "key": "tiktok/7301234567890123456.mp4"},
        "upstream": {"platform": "tiktok", "platform_video_id": "7301234567890123456",
                     "author": "@dancingcat", "caption": "new routine #dance #fyp",
                     "hashtags": ["dance", "fyp"], "uploaded_at": "2026-11-20T18:04:05Z"},
        "scraped_at": "2026-11-24T09:30:00Z",
    }]})

    schema_version: Literal[1] = 1
    kind: Literal["scraper.video"] = "scraper.video"
    object: ObjectRef
    upstream: UpstreamInfo
    scraped_at: datetime | None = None


class VideoMetadata(Model):
    """Upstream metadata for a video, sent by ingest to the aggregator (keyed by video ID) so
    the report carries it whichever arrival of the video was analyzed."""

    schema_version: Literal[1] = 1
    kind: Literal["video.metadata"] = "video.metadata"
    video_id: str
    upstream: UpstreamInfo


class VideoAccepted(Model):
    schema_version: Literal[1] = 1
    kind: Literal["video.accepted"] = "video.accepted"
    video_id: str
    source: ObjectRef
    media: MediaInfo
    warnings: list[str] = Field(default_factory=list)
    accepted_at: datetime = Field(default_factory=utc_now)


class VideoRejected(Model):
    schema_version: Literal[1] = 1
    kind: Literal["video.rejected"] = "video.rejected"
    video_id: str
    source: ObjectRef
    reason: str
    rejected_at: datetime = Field(default_factory=utc_now)


# --- frame sampler ----------------------------------------------------------------------------


class SampledFrame(Model):
    index: int = Field(description="Frame number in decode order, from 0")
    t: float = Field(description="Presentation time in seconds from the start of the video")
    width: int
    height: int
    jpeg: Blob
    reason: Literal["interval", "shot_start"] = Field(
        default="interval",
        description="Why the frame was sampled: an analyzer's fixed interval, or the first "
                    "frame of a shot (a frame that is both says shot_start)")
    analyzers: list[str] = Field(
        default_factory=list,
        description="Keys of the group's analyzers whose frame policy picked this frame; each "
                    "analyzer sees only its own frames (empty: every analyzer of the group)")


class TimeSpan(Model):
    t: float = Field(description="Start, seconds from the start of the video")
    end_t: float = Field(description="End, seconds from the start of the video")


class DetectedShot(Model):
    """One shot as the sampler's shot detector found it (``frame_sampler/shots.py``): the
    frames ``[start_index, end_index)`` in presentation order."""

    start_index: int
    end_index: int = Field(description="One past its last frame")
    t: float = Field(description="Time of its first frame, seconds")
    end_t: float = Field(
        description="Where it ends: the next shot's first frame, or the end of the video")
    opening: Literal["start", "cut", "dissolve", "fade"] = Field(
        description="How it begins: the video's first frame, a hard cut, a dissolve from the "
                    "previous shot, or a fade through black (the previous shot fades out, this "
                    "one fades in)")
    transition: TimeSpan = Field(
        description="The opening transition, from its first to its last frame (a cut: the "
                    "cut frame)")
    fade_in: TimeSpan | None = Field(
        default=None, description="It opens with a fade from black over this span")
    fade_out: TimeSpan | None = Field(
        default=None, description="It closes with a fade to black over this span")


class FrameSignals(Model):
    """The sampler's small measurements of every decoded frame since the previous gpu_light
    batch, for analyzers that need every frame rather than the sampled ones (shots, motion,
    camera motion; ``docs/frame_sampler.md``). Spans follow one another without gap or
    overlap and, but for the video's last, end on a whole second."""

    start_index: int = Field(description="Index of the first frame covered")
    times: list[float] = Field(description="Presentation time of each covered frame, seconds")
    end_t: float = Field(
        description="Where the span ends: the next frame's time, or the end of the video")
    cuts: list[int] = Field(
        default_factory=list,
        description="Frames (of the span or its lead-in) that start a shot with a hard cut")
    thumb_width: int
    thumb_height: int
    lead_in: int = Field(
        default=0, ge=0,
        description="Thumbnails of the frames just before the span (indices start_index - "
                    "lead_in on), first in `thumbs`, so that motion is measured across the "
                    "span's start")
    thumbs: Blob = Field(
        description="Upright luma thumbnails with square pixels, uint8, lead_in + len(times) of "
                    "thumb_height x thumb_width, row-major")
    shots: list[DetectedShot] = Field(
        default_factory=list,
        description="Shots whose end was settled since the previous span (in the video's last "
                    "span, all the rest)")


class FrameBatch(Model):
    schema_version: Literal[1] = 1
    kind: Literal["frames.batch"] = "frames.batch"
    video_id: str
    group: Group
    batch_index: int
    frames: list[SampledFrame]
    signals: FrameSignals | None = Field(
        default=None,
        description="gpu_light only, when one of its analyzers asks for them: measurements of "
                    "every decoded frame since the previous batch")


class AudioChunk(Model):
    """Mono 16-bit little-endian PCM."""

    schema_version: Literal[1] = 1
    kind: Literal["audio.chunk"] = "audio.chunk"
    video_id: str
    group: Literal[Group.AUDIO] = Group.AUDIO
    batch_index: int
    start_s: float = Field(description="Time of the first sample, seconds from video start")
    sample_rate: int
    num_samples: int
    pcm_s16le: Blob
    overlap_s: float = Field(
        default=0.0, ge=0,
        description="Leading seconds that repeat the previous chunk's tail (0 for the first "
                    "chunk); analyzers report only on the samples after the overlap")


class GroupPlan(Model):
    """What the aggregator must wait for from one group."""

    batches: int
    analyzers: list[str]
    skip_reason: str | None = Field(
        default=None, description="Why this group gets no input at all (e.g. no audio stream)"
    )


class SamplingManifest(Model):
    """Published after the last batch of a video: tells the aggregator exactly what to expect."""

    schema_version: Literal[1] = 1
    kind: Literal["sampling.manifest"] = "sampling.manifest"
    video_id: str
    source: ObjectRef
    media: MediaInfo
    warnings: list[str] = Field(default_factory=list)
    groups: dict[Group, GroupPlan]
    decode_s: float = Field(description="Wall time the sampler spent on this video")
    shot_starts_s: list[float] = Field(
        default_factory=list,
        description="Start time of every shot the sampler detected, the first frame included")
    display_width: int | None = Field(
        default=None, description="Upright width of the video with square pixels")
    display_height: int | None = Field(
        default=None, description="Upright height of the video with square pixels")
    rotation_deg: int = Field(
        default=0, description="Clockwise degrees the frames were turned to stand upright")
    decoded_duration_s: float | None = Field(
        default=None, description="Where decoding ended, seconds from the video start")


# --- consumer services ------------------------------------------------------------------------


class AnalyzerStatus(StrEnum):
    OK = "ok"
    SKIPPED = "skipped"
    FAILED = "failed"


class AnalyzerRun(Model):
    """One analyzer's output on one batch. ``records`` are time-stamped (key ``t``, seconds)."""

    analyzer: str
    version: str
    model_id: str | None = None
    model_revision: str | None = None
    status: AnalyzerStatus
    reason: str | None = Field(default=None, description="Why skipped, or the error if failed")
    elapsed_s: float
    records: list[dict[str, Any]] = Field(default_factory=list)


class PartialResult(Model):
    schema_version: Literal[1] = 1
    kind: Literal["result.partial"] = "result.partial"
    video_id: str
    group: Group
    batch_index: int
    runs: list[AnalyzerRun]


AggregatorInput = Annotated[
    VideoAccepted | SamplingManifest | PartialResult | VideoRejected | VideoMetadata,
    Field(discriminator="kind"),
]
"""Everything the aggregator consumes travels on one topic, so one partition owns a video."""
