"""Which streams of a file are analyzed: one video stream and one main audio mix.

Files users send often hold more than that: an MP3 or M4A with its album cover (a "video"
stream of one JPEG or PNG marked ``attached_pic``), a film with dubbed or commentary tracks,
a camera file with a second microphone. Refusing them would refuse ordinary media, and taking
the first stream would analyze a cover picture as a one-frame video or a commentary track as
the sound of the video. The indices chosen here travel in ``MediaInfo`` so the sampler decodes
the same streams.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

# The probe imports this module before it confines itself, so FFmpeg (PyAV) is imported only
# when a function here first runs, inside the confined child.


@cache
def _flags() -> tuple[int, int, int]:
    """(cover, default, secondary audio) disposition bits."""
    from av.stream import Disposition as D

    # Secondary audio: tracks made for a particular audience, not the video's own sound.
    return (int(D.attached_pic | D.timed_thumbnails), int(D.default),
            int(D.comment | D.descriptions | D.visual_impaired | D.hearing_impaired))


def _cover(stream: Any) -> bool:
    return bool(int(stream.disposition) & _flags()[0])


def _default(stream: Any) -> bool:
    return bool(int(stream.disposition) & _flags()[1])


def _secondary(stream: Any) -> bool:
    return bool(int(stream.disposition) & _flags()[2])


def codec_name(stream: Any) -> str:
    """The format's name of the stream's codec (av1, not the decoder's libdav1d); "unknown"
    for a stream whose codec FFmpeg could not identify (a damaged header can leave one)."""
    context = stream.codec_context  # None where FFmpeg has no decoder for the stream
    codec = context.codec if context is not None else None
    return str(codec.canonical_name) if codec is not None else "unknown"


def _number(stream: Any, attribute: str) -> int:
    """A codec parameter (width, channels, ...), 0 where the stream has no codec context."""
    return int(getattr(stream.codec_context, attribute, 0) or 0)


def is_cover(stream: Any) -> bool:
    """A still picture stored as a stream (cover art, thumbnails): metadata, not video."""
    return stream.type == "video" and _cover(stream)


def counted_streams(streams: Iterable[Any]) -> list[Any]:
    """Streams that count against the gate's stream limit: covers and attachments (fonts) are
    metadata and do not."""
    return [s for s in streams if s.type in ("video", "audio", "subtitle") and not is_cover(s)]


def choose_video(streams: Iterable[Any], allowed: list[str]) -> Any:
    """The video stream to analyze: among real (not cover) video streams, one whose codec is
    allowed if any is, then the default one, then the largest picture, then the first.
    ``None`` without video; a disallowed codec is left for the caller to reject by name."""
    candidates = [s for s in streams if s.type == "video" and not is_cover(s)]
    if not candidates:
        return None
    return min(candidates, key=lambda s: (
        codec_name(s) not in allowed, not _default(s),
        -_number(s, "width") * _number(s, "height"), s.index))


def choose_audio(streams: Iterable[Any], allowed: list[str]) -> Any:
    """The main audio mix: one with an allowed codec if any, then the default one, then not a
    commentary or description track, then most channels, then highest bit rate, then first."""
    candidates = [s for s in streams if s.type == "audio"]
    if not candidates:
        return None
    return min(candidates, key=lambda s: (
        codec_name(s) not in allowed, not _default(s),
        _secondary(s), -_number(s, "channels"),
        -_number(s, "bit_rate"), s.index))


def stream_warnings(streams: Iterable[Any], video: Any, audio: Any) -> list[str]:
    """What the report should say about streams that are not analyzed."""
    streams = list(streams)
    warnings: list[str] = []
    covers = [s for s in streams if is_cover(s)]
    if covers:
        cover = covers[0]
        warnings.append(f"cover picture ({codec_name(cover)}, stream {cover.index}) kept as "
                        "metadata: it is not analyzed as video")
    videos = [s for s in streams if s.type == "video" and not is_cover(s)]
    if len(videos) > 1 and video is not None:
        warnings.append(f"{len(videos)} video streams: stream {video.index} is analyzed")
    audios = [s for s in streams if s.type == "audio"]
    if len(audios) > 1 and audio is not None:
        why = ("the default" if _default(audio)
               else f"{_number(audio, 'channels')} channels")
        warnings.append(f"{len(audios)} audio streams: stream {audio.index} ({why}) is analyzed "
                        "as the main mix")
    return warnings
