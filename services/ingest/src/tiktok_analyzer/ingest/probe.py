"""The media probe: what a file holds and whether the gate lets it in, without a full decode.

It runs in a child process (``python -m tiktok_analyzer.ingest.probe FILE``, limits as JSON on
stdin, one JSON line out) because FFmpeg parses hostile bytes here, and a crafted file can crash
or exhaust the process that opens it. ``gate.py`` starts it with a timeout; the child caps its
own address space, CPU time and file writes before importing FFmpeg.

Order of checks: references first (playlists and concat lists are rejected from their bytes,
before any demuxer could follow them), then encryption (``protection.py``, also from the bytes:
FFmpeg would decode ciphertext into noise), then the container allowlist, stream count, the
choice of the video and main audio stream (``streams.py``; cover pictures are metadata),
codecs, sizes, rates and duration, and last the first frame of each chosen stream is decoded,
which catches files whose headers parse but whose data does not.
"""

from __future__ import annotations

import itertools
import json
import resource
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from tiktok_analyzer.ingest.protection import find_protection
from tiktok_analyzer.ingest.streams import (
    choose_audio,
    choose_video,
    codec_name,
    counted_streams,
    is_cover,
    stream_warnings,
)
from tiktok_analyzer.shared.contracts.events import MediaInfo, StreamInfo
from tiktok_analyzer.shared.errors import MediaRejected
from tiktok_analyzer.shared.settings import GateSettings

# Text formats whose whole point is to point at other files or URLs.
_REFERENCE_MAGIC = {
    b"#EXTM3U": "HLS playlist",
    b"#EXT-X-": "HLS playlist",
    b"ffconcat": "FFmpeg concat list",
    b"[playlist]": "PLS playlist",
    b"<?xml": "XML manifest (DASH, SMIL or similar)",
    b"<MPD": "DASH manifest",
    b"<smil": "SMIL presentation",
    b"v=0": "SDP session description",
    b"file '": "FFmpeg concat list",
    b"file \"": "FFmpeg concat list",
}
# Demuxer options that keep FFmpeg inside the one file it was given.
_CONFINED = {"protocol_whitelist": "file", "enable_drefs": "0", "use_absolute_path": "0"}
_VFR_SPREAD = 1.5  # max/min frame interval ratio above which a stream counts as variable-rate
_VFR_PACKETS = 240
_SCAN_PACKETS = 2000
_REORDER_DEPTH = 16
_ALPHA_FORMATS = ("yuva", "rgba", "bgra", "argb", "abgr", "gbrap", "ya8", "ya16")
# Packed RGB with an alpha byte: GIF and PNG decoders always give these, so alpha counts only
# where a pixel of the first frame is actually transparent. Value: the alpha byte's position.
_PACKED_ALPHA = {"rgba": 3, "bgra": 3, "argb": 0, "abgr": 0}


def sniff_reference(head: bytes) -> str | None:
    """Name the reference format if ``head`` (the file's first bytes) looks like one."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    for magic, name in _REFERENCE_MAGIC.items():
        if text[: len(magic)].lower() == magic.lower():
            return name
    return None


def _ffmpeg_reason(exc: Exception) -> str:
    return str(getattr(exc, "strerror", None) or exc)


def _rate(value: Fraction | None) -> float | None:
    return float(value) if value else None


def _container_names(format_name: str) -> set[str]:
    return set(format_name.split(","))


def _check_streams(container: Any, gate: GateSettings) -> None:
    names = _container_names(container.format.name)
    if not names & set(gate.containers):
        raise MediaRejected(f"container {container.format.name} is not allowed "
                            f"(allowed: {', '.join(gate.containers)})")
    counted = counted_streams(container.streams)
    if len(counted) > gate.max_streams:
        raise MediaRejected(f"too many streams: {len(counted)} audio, video and subtitle "
                            f"streams (limit {gate.max_streams})")




def _check_video(stream: Any, gate: GateSettings) -> None:
    codec = codec_name(stream)
    if codec not in gate.video_codecs:
        raise MediaRejected(f"video codec {codec} is not allowed "
                            f"(allowed: {', '.join(gate.video_codecs)})")
    width, height = stream.codec_context.width, stream.codec_context.height
    if max(width, height) > gate.max_side:
        raise MediaRejected(f"resolution {width}x{height} is above the limit of "
                            f"{gate.max_side} pixels per side")
    if min(width, height) < gate.min_side:
        raise MediaRejected(f"resolution {width}x{height} is below the minimum of "
                            f"{gate.min_side} pixels per side")
    fps = _rate(stream.average_rate) or _rate(stream.guessed_rate)
    if fps is not None and fps > gate.max_fps:
        raise MediaRejected(f"frame rate {fps:.0f} fps is above the limit of "
                            f"{gate.max_fps:.0f} fps")


def _check_audio(stream: Any, gate: GateSettings) -> None:
    codec = codec_name(stream)
    if codec not in gate.audio_codecs:
        raise MediaRejected(f"audio codec {codec} is not allowed "
                            f"(allowed: {', '.join(gate.audio_codecs)})")
    rate = stream.codec_context.sample_rate
    if not gate.min_audio_rate <= rate <= gate.max_audio_rate:
        raise MediaRejected(f"audio sample rate {rate} Hz is outside "
                            f"{gate.min_audio_rate}-{gate.max_audio_rate} Hz")


def _duration(container: Any, video: Any, audio: Any) -> float | None:
    if container.duration is not None and container.duration > 0:
        return float(container.duration) / 1_000_000
    for stream in (video, audio):
        if stream is not None and stream.duration:
            return float(stream.duration * stream.time_base)
    return None


@dataclass
class _Scan:
    """What one short demux pass from the start learns; at most ``_SCAN_PACKETS`` packets."""

    video_times: list[float] = field(default_factory=list)
    video_frame: Any = None
    audio_frame: Any = None
    video_error: str | None = None
    audio_error: str | None = None

    def intervals(self) -> list[float]:
        # Packets come in decode order: with B-frames, the last few read may precede frames
        # not read yet, which would look like gaps. Those trailing timestamps are dropped.
        times = sorted(self.video_times)[: max(0, len(self.video_times) - _REORDER_DEPTH)]
        return [b - a for a, b in itertools.pairwise(times) if b > a]


def _scan(container: Any, video: Any, audio: Any) -> _Scan:
    """Frame timestamps of the first video packets, and the first frame of each stream decoded
    (headers that parse over data that does not are caught here). Nothing else is decoded."""
    import av

    scan = _Scan()
    streams = [s for s in (video, audio) if s is not None]
    for count, packet in enumerate(container.demux(streams)):
        if packet.has_sidedata("encryption_info"):
            # The demuxer found per-sample encryption the byte checks did not name.
            raise MediaRejected(f"encrypted media ({packet.stream.type} packets carry "
                                "encryption info): without the keys only noise would decode, "
                                "so it is not analyzed")
        if packet.stream is video and packet.pts is not None and packet.size:
            scan.video_times.append(float(packet.pts * packet.time_base))
        wants_frame = (scan.video_frame is None and scan.video_error is None
                       if packet.stream is video
                       else scan.audio_frame is None and scan.audio_error is None)
        if wants_frame:
            try:
                for frame in packet.decode():
                    if packet.stream is video:
                        scan.video_frame = frame
                    else:
                        scan.audio_frame = frame
                    break
            except av.FFmpegError as exc:
                if packet.stream is video:
                    scan.video_error = str(exc)
                else:
                    scan.audio_error = str(exc)
        done = ((video is None or scan.video_frame is not None or scan.video_error)
                and (audio is None or scan.audio_frame is not None or scan.audio_error))
        if (done and len(scan.video_times) >= _VFR_PACKETS) or count >= _SCAN_PACKETS:
            break
    return scan


def probe_file(path: Path, gate: GateSettings) -> tuple[MediaInfo, list[str]]:
    """What ``path`` holds and the warnings for the report, or ``MediaRejected`` with a reason."""
    import av

    size = path.stat().st_size
    if size == 0:
        raise MediaRejected("empty file (0 bytes)")
    with path.open("rb") as f:
        reference = sniff_reference(f.read(4096))
        if reference:
            raise MediaRejected(f"playlist or reference file ({reference}): references to "
                                "other files or URLs are never followed")
        protection = find_protection(f)
    if protection:
        raise MediaRejected(protection.reason())
    try:
        container = av.open(str(path), options=dict(_CONFINED), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise MediaRejected(f"not a recognised media file ({_ffmpeg_reason(exc)})") from exc
    warnings: list[str] = []
    with container:
        _check_streams(container, gate)
        keyed = [s for s in container.streams if s.metadata.get("enc_key_id")]
        if keyed:  # Matroska tracks FFmpeg read an encryption key ID for
            raise MediaRejected(f"encrypted media (Matroska track {keyed[0].index} has a "
                                "content encryption key ID): without the keys only noise "
                                "would decode, so it is not analyzed")
        video = choose_video(container.streams, gate.video_codecs)
        audio = choose_audio(container.streams, gate.audio_codecs)
        if video is None and audio is None:
            covers = [s for s in container.streams if is_cover(s)]
            raise MediaRejected("not a recognised media file (no video or audio stream"
                                + (", only a cover picture)" if covers else ")"))
        if video is not None:
            _check_video(video, gate)
        if audio is not None:
            _check_audio(audio, gate)
        warnings += stream_warnings(container.streams, video, audio)
        duration = _duration(container, video, audio)
        if duration is not None and duration > gate.max_duration_s:
            raise MediaRejected(f"duration {duration:.0f} s is above the limit of "
                                f"{gate.max_duration_s:.0f} s")
        if duration is None:
            warnings.append("duration not declared by the container: progress is estimated")
        start_s = max(0.0, (container.start_time or 0) / 1_000_000)
        if start_s > 0.05:
            warnings.append(f"starts at {start_s:.3f} s (a start offset): report times count "
                            "from the first sample")

        if video is not None:
            video.thread_type = "NONE"  # threads multiply what a hostile stream can claim
        try:
            scan = _scan(container, video, audio)
        except av.FFmpegError as exc:
            raise MediaRejected(f"not a recognised media file ({_ffmpeg_reason(exc)})") from exc
        info = _video_facts(video, scan, warnings) if video is not None else {}
        if audio is not None and scan.audio_frame is None:
            raise MediaRejected(f"no decodable audio frame ({scan.audio_error or 'none found'})")
        if video is None:
            warnings.append("no video stream: only audio analyzers run")
        if audio is None:
            warnings.append("no audio stream: audio analyzers are skipped")
        media = MediaInfo(
            container=container.format.name,
            duration_s=duration,
            size_bytes=size,
            audio_codec=codec_name(audio) if audio else None,
            audio_sample_rate=audio.codec_context.sample_rate if audio else None,
            video_stream_index=video.index if video is not None else None,
            audio_stream_index=audio.index if audio is not None else None,
            start_s=round(start_s, 6),
            streams=[_stream_info(s) for s in container.streams],
            **info,
        )
    return media, warnings


def _video_facts(video: Any, scan: _Scan, warnings: list[str]) -> dict[str, Any]:
    intervals = scan.intervals()
    vfr = bool(intervals) and max(intervals) / min(intervals) > _VFR_SPREAD
    if vfr:
        warnings.append(f"variable frame rate (frame gaps {min(intervals) * 1000:.0f}-"
                        f"{max(intervals) * 1000:.0f} ms): times come from each frame's "
                        "timestamp")
    frame = scan.video_frame
    if frame is None:
        raise MediaRejected(f"no decodable video frame ({scan.video_error or 'none found'})")
    rotation = round(-(frame.rotation or 0)) % 360  # FFmpeg gives it counter-clockwise
    if rotation:
        warnings.append(f"rotation metadata of {rotation} degrees: frames are turned upright")
    sar = video.sample_aspect_ratio or video.codec_context.sample_aspect_ratio
    pixel_aspect = float(sar) if sar else 1.0
    if abs(pixel_aspect - 1.0) > 0.01:
        warnings.append(f"non-square pixels (pixel aspect {sar.numerator}:{sar.denominator}): "
                        "frames are rescaled to square pixels")
    alpha = video.metadata.get("alpha_mode") == "1" or _has_alpha(frame)
    if alpha:
        warnings.append("alpha channel ignored: frames are analyzed as opaque")
    return {
        "width": video.codec_context.width,
        "height": video.codec_context.height,
        "fps": _rate(video.average_rate) or _rate(video.guessed_rate),
        "video_codec": codec_name(video),
        "rotation_deg": rotation,
        "pixel_aspect": round(pixel_aspect, 4),
        "variable_frame_rate": vfr,
        "has_alpha": alpha,
    }


def _has_alpha(frame: Any) -> bool:
    name = frame.format.name
    if name in _PACKED_ALPHA:
        return bool((frame.to_ndarray()[..., _PACKED_ALPHA[name]] < 255).any())
    return bool(name.startswith(_ALPHA_FORMATS))


def _stream_info(s: Any) -> StreamInfo:
    if is_cover(s) or s.codec_context is None:  # a cover picture; a stream FFmpeg cannot read
        return StreamInfo(index=s.index, kind="other", codec=codec_name(s))
    if s.type == "video":
        return StreamInfo(index=s.index, kind="video", codec=codec_name(s),
                          width=s.codec_context.width, height=s.codec_context.height,
                          fps=_rate(s.average_rate) or _rate(s.guessed_rate))
    if s.type == "audio":
        return StreamInfo(index=s.index, kind="audio", codec=codec_name(s),
                          sample_rate=s.codec_context.sample_rate,
                          channels=s.codec_context.channels)
    return StreamInfo(index=s.index, kind="other", codec=None)


def _confine(memory_bytes: int, cpu_s: int) -> None:
    """Limits the child sets on itself before FFmpeg is loaded (a preexec_fn in the parent is
    not safe while the parent runs threads)."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # the probe never writes a file
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main() -> None:
    gate = GateSettings.model_validate_json(sys.stdin.read())
    _confine(gate.probe_memory_bytes, int(gate.probe_timeout_s) + 1)
    try:
        media, warnings = probe_file(Path(sys.argv[1]), gate)
        out: dict[str, Any] = {"media": media.model_dump(mode="json"), "warnings": warnings}
    except MediaRejected as exc:
        out = {"rejected": str(exc)}
    except MemoryError:
        out = {"rejected": "the media probe exceeded its memory limit"}
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
