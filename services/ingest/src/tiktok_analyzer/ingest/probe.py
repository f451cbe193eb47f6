"""Probe a media file with PyAV: container, streams, duration, without decoding it all."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from tiktok_analyzer.shared.errors import MediaRejected
from tiktok_analyzer.shared.events import MediaInfo, StreamInfo


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def probe_file(path: Path) -> tuple[MediaInfo, list[str]]:
    """Return what the file holds and a list of warnings, or raise ``MediaRejected``."""
    import av

    size = path.stat().st_size
    if size == 0:
        raise MediaRejected("empty file (0 bytes)")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise MediaRejected(f"not a readable media file: {exc}") from exc
    warnings: list[str] = []
    with container:
        streams: list[StreamInfo] = []
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        for s in container.streams:
            if s.type == "video":
                rate = s.average_rate or s.guessed_rate
                ctx = s.codec_context
                streams.append(StreamInfo(index=s.index, kind="video", codec=ctx.name,
                                          width=ctx.width, height=ctx.height,
                                          fps=float(rate) if rate else None))
            elif s.type == "audio":
                streams.append(StreamInfo(index=s.index, kind="audio", codec=s.codec_context.name,
                                          sample_rate=s.codec_context.sample_rate,
                                          channels=s.codec_context.channels))
            else:
                streams.append(StreamInfo(index=s.index, kind="other", codec=None))
        if video is None and audio is None:
            raise MediaRejected("no video or audio stream")
        if video is None:
            warnings.append("no video stream: only audio analyzers run")
        if audio is None:
            warnings.append("no audio stream: audio analyzers are skipped")
        duration = _seconds(container.duration, Fraction(1, 1_000_000))
        if duration is None and video is not None:
            duration = _seconds(video.duration, video.time_base)
        if duration is None:
            warnings.append("duration not declared by the container")
        rotation = 0
        if video is not None:
            try:
                rotation = int(float(video.metadata.get("rotate", 0))) % 360
            except ValueError:
                warnings.append("unreadable rotation metadata ignored")
        info = MediaInfo(
            container=container.format.name,
            duration_s=duration,
            size_bytes=size,
            width=video.codec_context.width if video else None,
            height=video.codec_context.height if video else None,
            fps=float(video.average_rate) if video and video.average_rate else None,
            video_codec=video.codec_context.name if video else None,
            audio_codec=audio.codec_context.name if audio else None,
            audio_sample_rate=audio.codec_context.sample_rate if audio else None,
            rotation_deg=rotation,
            streams=streams,
        )
    return info, warnings
