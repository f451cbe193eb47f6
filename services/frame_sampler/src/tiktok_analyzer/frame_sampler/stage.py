"""The sampler stage: decode a video once, emit frame batches and audio chunks as they are
decoded, then a manifest telling the aggregator exactly how many batches each group gets.

Transport-free: ``sample_video`` is a generator of events; the Kafka service publishes each one
as it comes, and the one-process mode hands each one straight to the analyzers.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tiktok_analyzer.shared.blobs import PayloadPacker
from tiktok_analyzer.shared.events import (
    AudioChunk,
    FrameBatch,
    Group,
    GroupPlan,
    SampledFrame,
    SamplingManifest,
    VideoAccepted,
)
from tiktok_analyzer.shared.settings import PipelineSettings, SamplingSettings

SamplerEvent = FrameBatch | AudioChunk | SamplingManifest


def fit_within(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Scale to fit ``max_side`` on the longer side, never upscale, keep sizes even."""
    scale = min(1.0, max_side / max(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


@dataclass
class _FrameGroup:
    group: Group
    every_s: float
    max_side: int
    batch_size: int
    next_t: float = 0.0
    pending: list[SampledFrame] = field(default_factory=list)
    emitted: int = 0


class _Sampler:
    def __init__(self, accepted: VideoAccepted, settings: SamplingSettings,
                 packer: PayloadPacker) -> None:
        self.accepted = accepted
        self.settings = settings
        self.packer = packer
        self.frame_groups = [
            _FrameGroup(Group.GPU_HEAVY, settings.heavy_interval_s, settings.heavy_max_side,
                        settings.heavy_batch),
            _FrameGroup(Group.GPU_LIGHT, 1.0 / settings.light_fps, settings.light_max_side,
                        settings.light_batch),
        ]
        self.audio_pending: list[np.ndarray] = []
        self.audio_pending_samples = 0
        self.audio_emitted_samples = 0
        self.audio_batches = 0

    def _payload_key(self, group: Group, batch_index: int, item: int) -> str:
        return f"{self.accepted.video_id}/{group}/{batch_index:05d}-{item:03d}"

    def on_video_frame(self, frame, number: int, t: float) -> Iterator[FrameBatch]:
        # frame: av.VideoFrame; number: its position in decode order
        resized: dict[tuple[int, int], bytes] = {}
        for fg in self.frame_groups:
            if t + 1e-6 < fg.next_t:
                continue
            fg.next_t += fg.every_s * max(1, int((t - fg.next_t) // fg.every_s) + 1)
            size = fit_within(frame.width, frame.height, fg.max_side)
            if size not in resized:
                rgb = frame.reformat(width=size[0], height=size[1], format="rgb24").to_ndarray()
                resized[size] = encode_jpeg(rgb, self.settings.jpeg_quality)
            jpeg = resized[size]
            blob = self.packer.pack(jpeg, self._payload_key(fg.group, fg.emitted, len(fg.pending)),
                                    "image/jpeg")
            fg.pending.append(SampledFrame(index=number,
                                           t=round(t, 4), width=size[0], height=size[1],
                                           jpeg=blob))
            if len(fg.pending) >= fg.batch_size:
                yield self._flush_frames(fg)

    def _flush_frames(self, fg: _FrameGroup) -> FrameBatch:
        batch = FrameBatch(video_id=self.accepted.video_id, group=fg.group,
                           batch_index=fg.emitted, frames=fg.pending)
        fg.pending = []
        fg.emitted += 1
        return batch

    def on_audio(self, samples: np.ndarray) -> Iterator[AudioChunk]:
        self.audio_pending.append(samples)
        self.audio_pending_samples += len(samples)
        chunk = int(self.settings.audio_chunk_s * self.settings.audio_sample_rate)
        while self.audio_pending_samples >= chunk:
            yield self._flush_audio(chunk)

    def _flush_audio(self, count: int) -> AudioChunk:
        joined = np.concatenate(self.audio_pending)
        head, rest = joined[:count], joined[count:]
        self.audio_pending = [rest] if len(rest) else []
        self.audio_pending_samples = len(rest)
        rate = self.settings.audio_sample_rate
        pcm = head.astype("<i2").tobytes()
        chunk = AudioChunk(
            video_id=self.accepted.video_id,
            batch_index=self.audio_batches,
            start_s=round(self.audio_emitted_samples / rate, 6),
            sample_rate=rate,
            num_samples=len(head),
            pcm_s16le=self.packer.pack(pcm, self._payload_key(Group.AUDIO, self.audio_batches, 0),
                                       "audio/L16"),
        )
        self.audio_emitted_samples += len(head)
        self.audio_batches += 1
        return chunk

    def finish(self) -> Iterator[FrameBatch | AudioChunk]:
        for fg in self.frame_groups:
            if fg.pending:
                yield self._flush_frames(fg)
        if self.audio_pending_samples:
            yield self._flush_audio(self.audio_pending_samples)


def sample_video(path: Path, accepted: VideoAccepted, packer: PayloadPacker,
                 settings: SamplingSettings | None = None,
                 pipeline: PipelineSettings | None = None) -> Iterator[SamplerEvent]:
    import av

    settings = settings or SamplingSettings()
    pipeline = pipeline or PipelineSettings()
    started = time.perf_counter()
    sampler = _Sampler(accepted, settings, packer)
    warnings = list(accepted.warnings)
    with av.open(str(path), metadata_errors="ignore") as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is not None:
            video.thread_type = "AUTO"  # frame + slice threads: decoding is the sampler's cost
        resampler = (av.AudioResampler(format="s16", layout="mono",
                                       rate=settings.audio_sample_rate) if audio else None)
        start = float(container.start_time or 0) / 1_000_000
        streams = [s for s in (video, audio) if s is not None]
        decoded_frames = 0
        try:
            for packet in container.demux(streams):
                for frame in packet.decode():
                    if isinstance(frame, av.VideoFrame):
                        decoded_frames += 1
                        if frame.pts is None:
                            continue
                        t = max(0.0, float(frame.pts * frame.time_base) - start)
                        yield from sampler.on_video_frame(frame, decoded_frames - 1, t)
                    elif isinstance(frame, av.AudioFrame) and resampler is not None:
                        for out in resampler.resample(frame):
                            yield from sampler.on_audio(out.to_ndarray().reshape(-1))
        except av.FFmpegError as exc:
            # A truncated or damaged tail: keep what decoded, say so in the report.
            warnings.append(f"decoding stopped early: {exc}")
        if resampler is not None:
            for out in resampler.resample(None):
                yield from sampler.on_audio(out.to_ndarray().reshape(-1))
    yield from sampler.finish()

    frame_counts = {fg.group: fg.emitted for fg in sampler.frame_groups}
    groups = {
        Group.GPU_HEAVY: GroupPlan(batches=frame_counts[Group.GPU_HEAVY],
                                   analyzers=pipeline.for_group(Group.GPU_HEAVY),
                                   skip_reason=None if video else "no video stream"),
        Group.GPU_LIGHT: GroupPlan(batches=frame_counts[Group.GPU_LIGHT],
                                   analyzers=pipeline.for_group(Group.GPU_LIGHT),
                                   skip_reason=None if video else "no video stream"),
        Group.AUDIO: GroupPlan(batches=sampler.audio_batches,
                               analyzers=pipeline.for_group(Group.AUDIO),
                               skip_reason=None if audio else "no audio stream"),
    }
    for plan_group, plan in groups.items():
        if plan.batches == 0 and plan.skip_reason is None:
            groups[plan_group] = plan.model_copy(update={"skip_reason": "no decodable input"})
    yield SamplingManifest(
        video_id=accepted.video_id, source=accepted.source, media=accepted.media,
        warnings=warnings, groups=groups, decode_s=round(time.perf_counter() - started, 3),
    )
