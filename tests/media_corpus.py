"""A corpus of awkward and hostile media inputs, synthesized on the spot (nothing downloaded).

Every case is a file a user could upload, the outcome the media gate must give it, and the
substring its reason (rejected) or one of its warnings (complete) must contain. Builders that
claim a property check it by reopening the file with PyAV and raise ``CorpusError`` when it is
missing, so the corpus cannot silently stop testing what it says it tests.

How the less obvious properties are written (PyAV 18.1, its bundled FFmpeg 8):

- **rotation**: ``VideoStream.set_display_rotation(-90)`` before the first frame. PyAV puts an
  ``AV_PKT_DATA_DISPLAYMATRIX`` into the stream's coded side data, which the mov muxer writes
  as the ``tkhd`` matrix. Stream metadata ``rotate`` is *not* honoured by this muxer (the tag
  is dropped), and the demuxer no longer exports a ``rotate`` tag either; the rotation reads
  back as ``VideoFrame.rotation`` on decoded frames (-90: counter-clockwise -90, i.e. turn 90
  degrees clockwise to display, as a phone held upright records it; legacy ``rotate=90``).
- **no declared duration**: Matroska written through a file object that has no ``seek``
  (``_Unseekable``): the muxer cannot go back to fill in Duration, and on reopening
  ``container.duration`` is ``None`` (and so is the stream's duration).
- **alpha**: libvpx-vp9 fed ``yuva420p`` frames into WebM: the alpha plane goes into Matroska
  BlockAdditional data and the track gets ``AlphaMode=1``, which reads back as the stream tag
  ``alpha_mode == "1"``; decoding with the ``libvpx-vp9`` decoder gives ``yuva420p`` frames.

Files stay tiny (at most 2 s, mostly 160x284; the one 8192x8192 frame is black and about
200 KB) so the whole corpus builds in about 4 s on 2 cores. ``many_tiny_frames`` is 32x32
rather than 16x16 so that it stays clear of the gate's 16-pixel minimum side and is rejected
for its frame rate alone.

``build_all`` takes a ``tag``: a run-specific string mixed into the pixels and tone, the
container's metadata, or the text of every case (except the empty file, which has only one
possible content). The pipeline identifies a video by the SHA-256 of its bytes and answers
identical bytes only once, so a test that runs against a stack that has already seen the
corpus needs new bytes to get new reports.
"""

from __future__ import annotations

import contextvars
import hashlib
import itertools
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO, Literal

import av
import numpy as np

TRAP_PORT = 18931  # the Kafka test serves this port and checks that nothing ever asked it
TRAP_URL = f"http://127.0.0.1:{TRAP_PORT}/seg.ts"

_TAG: contextvars.ContextVar[str] = contextvars.ContextVar("media_corpus_tag", default="")


class CorpusError(RuntimeError):
    """A builder wrote a file that lacks the property its case depends on."""


@dataclass(frozen=True)
class CorpusCase:
    name: str  # short id, used as pytest id
    filename: str  # file name incl. extension as a user would upload it
    build: Callable[[Path], None]  # writes the file at the given path
    expect: Literal["rejected", "complete"]
    reason_contains: str | None = None  # for rejected: lowercase substring of the reason
    warning_contains: str | None = None  # for complete: substring one warning must contain


def _require(condition: object, message: str) -> None:
    if not condition:
        raise CorpusError(message)


def _phase() -> int:
    tag = _TAG.get()
    return int(hashlib.sha256(tag.encode()).hexdigest()[:4], 16) % 97 if tag else 0


# ---------------------------------------------------------------------------------- writing


@dataclass
class _Video:
    codec: str = "libx264"
    width: int = 160
    height: int = 284
    fps: int = 30
    pts: list[int] | None = None  # explicit timestamps in `time_base` units
    time_base: Fraction | None = None  # default 1/fps
    pix_fmt: str = "yuv420p"
    options: dict[str, str] = field(default_factory=dict)
    sar: Fraction | None = None
    rotation: float | None = None  # counter-clockwise degrees, as VideoFrame.rotation reads
    codec_tag: str | None = None


class _Unseekable:
    """A write-only file object: a muxer given this cannot go back and patch headers."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw

    def write(self, data: bytes) -> int:
        return self._raw.write(data)

    def flush(self) -> None:
        self._raw.flush()


def _picture(i: int, width: int, height: int, alpha: bool) -> av.VideoFrame:
    x = np.arange(width, dtype=np.int32)[None, :]
    y = np.arange(height, dtype=np.int32)[:, None]
    base = (x * 255 // max(1, width - 1) + y * 0 + _phase()) % 256
    rgb = np.empty((height, width, 4 if alpha else 3), dtype=np.uint8)
    rgb[..., 0] = base
    rgb[..., 1] = (y * 255 // max(1, height - 1) + 0 * x + 3 * i) % 256
    rgb[..., 2] = 90
    bar = (i * 4) % width
    rgb[:, bar:bar + 6, :3] = 240
    if alpha:
        rgb[..., 3] = (x * 255 // max(1, width - 1) + 0 * y).astype(np.uint8)
    return av.VideoFrame.from_ndarray(rgb, format="rgba" if alpha else "rgb24")


def _write(target: Path | BinaryIO, *, video: _Video | None, audio_streams: int = 1,
           audio_codec: str = "aac", seconds: float = 2.0, start_s: float = 0.0,
           fmt: str | None = None, options: dict[str, str] | None = None) -> None:
    """Video (and/or `audio_streams` identical tone tracks), muxed in timestamp order."""
    sample_rate = 48_000
    chunk = 960 if audio_codec == "libopus" else 1024
    phase = _phase()
    with av.open(target, "w", format=fmt, options=options or {}) as out:
        if _TAG.get():
            out.metadata["comment"] = f"media corpus run {_TAG.get()}"
        events: list[tuple[float, int, int]] = []  # (time s, 0 video / 1 audio, index)
        vstream: Any = None
        if video is not None:
            time_base = video.time_base or Fraction(1, video.fps)
            pts = video.pts or [round(start_s / time_base) + i
                                for i in range(round(seconds * video.fps))]
            vstream = out.add_stream(video.codec, rate=video.fps, options=video.options)
            vstream.width, vstream.height = video.width, video.height
            vstream.pix_fmt = video.pix_fmt
            vstream.codec_context.time_base = time_base
            if video.sar is not None:
                vstream.codec_context.sample_aspect_ratio = video.sar
            if video.rotation is not None:
                vstream.set_display_rotation(video.rotation)
            if video.codec_tag:
                vstream.codec_tag = video.codec_tag
            events += [(float(p * time_base), 0, i) for i, p in enumerate(pts)]
        astreams: list[Any] = []
        for _ in range(audio_streams):
            astream = out.add_stream(audio_codec, rate=sample_rate)
            astream.layout = "mono"
            astreams.append(astream)
        first_sample = round(start_s * sample_rate)
        n_chunks = int(seconds * sample_rate) // chunk if astreams else 0
        events += [(start_s + j * chunk / sample_rate, 1, j) for j in range(n_chunks)]

        tone = 2 * np.pi * (440 + 3 * phase) / sample_rate
        for _t, kind, index in sorted(events):
            if kind == 0:
                assert video is not None and vstream is not None
                frame = _picture(index, video.width, video.height,
                                 alpha=video.pix_fmt.startswith("yuva"))
                frame.pts = pts[index]
                frame.time_base = vstream.codec_context.time_base
                out.mux(vstream.encode(frame))
            else:
                n = first_sample + index * chunk
                samples = 0.3 * np.sin(tone * np.arange(n, n + chunk, dtype=np.float64))
                for astream in astreams:
                    frame = av.AudioFrame.from_ndarray(
                        samples.astype(np.float32)[None, :], format="fltp", layout="mono")
                    frame.sample_rate = sample_rate
                    frame.pts = n
                    frame.time_base = Fraction(1, sample_rate)
                    out.mux(astream.encode(frame))
        for stream in ([vstream] if vstream is not None else []) + astreams:
            out.mux(stream.encode(None))


# --------------------------------------------------------------------------------- checking


def _opens(path: Path) -> bool:
    try:
        with av.open(str(path)):
            return True
    except (av.FFmpegError, UnicodeDecodeError):
        return False


def _packets(path: Path) -> int:
    """Video and audio packets that demux before the file ends or breaks."""
    count = 0
    with av.open(str(path)) as container:
        try:
            for packet in container.demux():
                count += bool(packet.size)
        except av.FFmpegError:
            pass
    return count


def _first_video_frame(container: Any, decoder: str | None = None) -> av.VideoFrame:
    stream = container.streams.video[0]
    if decoder is not None:
        ctx: Any = av.CodecContext.create(decoder, "r")
        ctx.extradata = stream.codec_context.extradata
        for packet in container.demux(stream):
            for frame in ctx.decode(packet):
                return frame
        for frame in ctx.decode(None):
            return frame
    else:
        for frame in container.decode(stream):
            return frame
    raise CorpusError("no video frame decodes")


def _video_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sorted(float(p.pts * p.time_base) for p in container.demux(stream)
                      if p.pts is not None and p.size)


def _expect_video(path: Path, codec: str, size: tuple[int, int] | None = None) -> Any:
    with av.open(str(path)) as container:
        _require(container.streams.video, f"{path.name}: no video stream")
        stream = container.streams.video[0]
        got_codec = stream.codec.canonical_name  # the format's codec, not the decoder's name
        _require(got_codec == codec, f"{path.name}: codec {got_codec}, want {codec}")
        if size is not None:
            got = (stream.codec_context.width, stream.codec_context.height)
            _require(got == size, f"{path.name}: size {got}, want {size}")
        _first_video_frame(container)


# --------------------------------------------------------------------------------- builders


def _zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


def _random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(7).randbytes(64 * 1024) + _TAG.get().encode())
    _require(not _opens(path), "random bytes opened as media")


def _text_as_mp4(path: Path) -> None:
    path.write_text("Meeting notes, Tuesday\n\n- ship the ingest gate\n- review the sampler\n"
                    f"- nobody renamed this to .mp4 on purpose {_TAG.get()}\n")
    _require(not _opens(path), "text opened as media")


def _cut(path: Path, share: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * share)])


def _truncated_head(path: Path) -> None:
    _write(path, video=_Video())
    data = path.read_bytes()
    _require(data.find(b"moov") > data.find(b"mdat") > 0, "moov is not after mdat")
    _cut(path, 0.30)
    _require(not _opens(path), "an mp4 cut before its moov still opens")


def _truncated_faststart(share: float) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        _write(path, video=_Video(), options={"movflags": "faststart"})
        data = path.read_bytes()
        _require(0 < data.find(b"moov") < data.find(b"mdat"), "faststart: moov not in front")
        whole = _packets(path)
        _cut(path, share)
        with av.open(str(path)) as container:
            _require(container.duration and container.duration > 1.9e6,
                     "the cut file no longer declares the full duration")
        left = _packets(path)
        _require(0 < left < whole, f"cut file demuxes {left} of {whole} packets")

    return build


def _audio_only(path: Path) -> None:
    _write(path, video=None)
    with av.open(str(path)) as container:
        _require(not container.streams.video and len(container.streams.audio) == 1,
                 "audio_only: wrong streams")


def _video_only(path: Path) -> None:
    _write(path, video=_Video(), audio_streams=0)
    with av.open(str(path)) as container:
        _require(container.streams.video and not container.streams.audio,
                 "video_only: wrong streams")


def _huge_dimensions(path: Path) -> None:
    side = 8192
    with av.open(str(path), "w") as out:
        if _TAG.get():
            out.metadata["comment"] = f"media corpus run {_TAG.get()}"
        stream: Any = out.add_stream("libx264", rate=1,
                                     options={"preset": "ultrafast", "crf": "51"})
        stream.width = stream.height = side
        stream.pix_fmt = "yuv420p"
        planes = np.full((side * 3 // 2, side), 128, dtype=np.uint8)
        planes[:side] = 16  # black, in studio range
        frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        frame.pts = 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with av.open(str(path)) as container:
        got = container.streams.video[0].codec_context
        _require((got.width, got.height) == (side, side), "huge_dimensions: size lost")


def _very_long_duration(path: Path) -> None:
    ten_hours_ms = 10 * 3600 * 1000
    pts = [0, 33, 67, 100, ten_hours_ms]
    _write(path, video=_Video(pts=pts, time_base=Fraction(1, 1000)), audio_streams=0)
    with av.open(str(path)) as container:
        _require(container.duration and container.duration >= 9.9 * 3600 * 1e6,
                 f"very_long_duration: duration {container.duration}")


def _many_tiny_frames(path: Path) -> None:
    _write(path, video=_Video(width=32, height=32, fps=1000), audio_streams=0)
    with av.open(str(path)) as container:
        rate = container.streams.video[0].average_rate
        _require(rate and rate >= 900, f"many_tiny_frames: average rate {rate}")


def _rotated_portrait(path: Path) -> None:
    _write(path, video=_Video(width=284, height=160, rotation=-90))
    with av.open(str(path)) as container:
        frame = _first_video_frame(container)
        _require(round(frame.rotation) % 360 == 270,
                 f"rotated_portrait: frame.rotation {frame.rotation}")


def _variable_frame_rate(path: Path) -> None:
    pts, t = [], 0
    for i in range(30):
        pts.append(t)
        t += 33 if i % 2 == 0 else 100
    _write(path, video=_Video(pts=pts, time_base=Fraction(1, 1000)))
    times = _video_times(path)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    _require(min(gaps) > 0 and max(gaps) / min(gaps) > 2.5,
             f"variable_frame_rate: gaps {min(gaps)}-{max(gaps)}")


def _hevc(path: Path) -> None:
    _write(path, video=_Video(codec="libx265", codec_tag="hvc1",
                              options={"x265-params": "log-level=error"}))
    _expect_video(path, "hevc", (160, 284))


def _vp9_alpha(path: Path) -> None:
    _write(path, video=_Video(codec="libvpx-vp9", pix_fmt="yuva420p",
                              options={"deadline": "realtime", "cpu-used": "8"}),
           audio_codec="libopus", fmt="webm")
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        _require(stream.metadata.get("alpha_mode") == "1",
                 f"vp9_alpha: no alpha_mode tag ({dict(stream.metadata)})")
        frame = _first_video_frame(container, decoder="libvpx-vp9")
        _require(frame.format.name == "yuva420p",
                 f"vp9_alpha: libvpx decodes {frame.format.name}")


def _av1(path: Path) -> None:
    quiet = "SVT_LOG" not in os.environ  # SVT-AV1 prints its banner to stderr unless told
    if quiet:
        os.environ["SVT_LOG"] = "1"  # errors only
    try:
        _write(path, video=_Video(codec="libsvtav1", options={"preset": "10"}))
    finally:
        if quiet:
            del os.environ["SVT_LOG"]
    _expect_video(path, "av1", (160, 284))


def _non_square_pixels(path: Path) -> None:
    _write(path, video=_Video(sar=Fraction(2, 1)))
    with av.open(str(path)) as container:
        sar = container.streams.video[0].sample_aspect_ratio
        _require(sar == Fraction(2, 1), f"non_square_pixels: sample aspect ratio {sar}")


def _start_offset(path: Path) -> None:
    _write(path, video=_Video(), start_s=5.0)
    with av.open(str(path)) as container:
        start = (container.start_time or 0) / 1e6
        _require(4.9 < start < 5.1, f"start_offset: start_time {start}")


def _no_duration(path: Path) -> None:
    with path.open("wb") as raw:
        _write(_Unseekable(raw), video=_Video(), fmt="matroska")  # type: ignore[arg-type]
    with av.open(str(path)) as container:
        _require(container.duration is None, f"no_duration: duration {container.duration}")
        _first_video_frame(container)


def _hls_local(path: Path) -> None:
    sibling = path.parent / "portrait.mp4"  # another corpus file, absolute path
    path.write_text(f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n"
                    f"#EXTINF:2.0,\n{sibling.resolve()}\n#EXTINF:2.0,\n/etc/passwd\n"
                    f"#EXT-X-ENDLIST\n# {_TAG.get()}\n")


def _hls_url(path: Path) -> None:
    path.write_text(f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n"
                    f"#EXTINF:2.0,\n{TRAP_URL}\n#EXT-X-ENDLIST\n# {_TAG.get()}\n")


def _concat_list(path: Path) -> None:
    sibling = path.parent / "video-only.mp4"
    path.write_text(f"ffconcat version 1.0\n# {_TAG.get()}\nfile '{sibling.resolve()}'\n")


def _mjpeg_codec(path: Path) -> None:
    _write(path, video=_Video(codec="mjpeg", pix_fmt="yuvj420p"), fmt="matroska")
    _expect_video(path, "mjpeg", (160, 284))


def _too_many_streams(path: Path) -> None:
    _write(path, video=_Video(), audio_streams=10, seconds=1.0)
    with av.open(str(path)) as container:
        counts = (len(container.streams.video), len(container.streams.audio))
        _require(counts == (1, 10), f"too_many_streams: (video, audio) = {counts}")


def _rejected(name: str, filename: str, build: Callable[[Path], None],
              reason: str) -> CorpusCase:
    return CorpusCase(name, filename, build, "rejected", reason_contains=reason)


def _complete(name: str, filename: str, build: Callable[[Path], None],
              warning: str | None) -> CorpusCase:
    return CorpusCase(name, filename, build, "complete", warning_contains=warning)


NOT_MEDIA = "not a recognised media file"
NEVER_FOLLOWED = "never followed"

CASES: list[CorpusCase] = [
    _rejected("zero_bytes", "empty.mp4", _zero_bytes, "empty file"),
    _rejected("random_bytes", "noise.mp4", _random_bytes, NOT_MEDIA),
    _rejected("text_as_mp4", "notes.mp4", _text_as_mp4, NOT_MEDIA),
    _rejected("truncated_head", "cut-head.mp4", _truncated_head, NOT_MEDIA),
    _complete("truncated_faststart_half", "cut-half.mp4", _truncated_faststart(0.5),
              "truncated"),
    _complete("truncated_faststart_90", "cut-90.mp4", _truncated_faststart(0.9), "truncated"),
    _complete("audio_only", "voice.m4a", _audio_only, "no video stream"),
    _complete("video_only", "video-only.mp4", _video_only, "no audio stream"),
    _rejected("huge_dimensions", "huge.mp4", _huge_dimensions, "resolution"),
    _rejected("very_long_duration", "ten-hours.mkv", _very_long_duration, "duration"),
    _rejected("many_tiny_frames", "1000fps.mp4", _many_tiny_frames, "frame rate"),
    _complete("rotated_portrait", "portrait.mp4", _rotated_portrait, "rotat"),
    _complete("variable_frame_rate", "vfr.mp4", _variable_frame_rate, "variable frame rate"),
    _complete("hevc", "hevc.mp4", _hevc, None),
    _complete("vp9_alpha", "alpha.webm", _vp9_alpha, "alpha"),
    _complete("av1", "av1.mp4", _av1, None),
    _complete("non_square_pixels", "anamorphic.mp4", _non_square_pixels, "pixel aspect"),
    _complete("start_offset", "offset.mp4", _start_offset, "starts at"),
    _complete("no_duration", "live.mkv", _no_duration, "duration not declared"),
    _rejected("hls_local", "clip.mp4", _hls_local, NEVER_FOLLOWED),
    _rejected("hls_url", "stream.mp4", _hls_url, NEVER_FOLLOWED),
    _rejected("concat_list", "joined.mp4", _concat_list, NEVER_FOLLOWED),
    _rejected("mjpeg_codec", "mjpeg.mkv", _mjpeg_codec, "codec"),
    _rejected("too_many_streams", "streams.mkv", _too_many_streams, "streams"),
]


def _cases_in_order() -> Iterator[CorpusCase]:
    # Reference cases name other corpus files by absolute path: build those first.
    yield from sorted(CASES, key=lambda c: c.expect == "rejected"
                      and c.reason_contains == NEVER_FOLLOWED)


def build_all(folder: Path, tag: str = "") -> dict[str, Path]:
    """Writes every case into ``folder``; returns case name -> path. A non-empty ``tag`` makes
    every file except the empty one differ in bytes from any other run's."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [c.filename for c in CASES]
    _require(len(set(names)) == len(names), "two cases share a file name")
    token = _TAG.set(tag)
    try:
        paths: dict[str, Path] = {}
        for case in _cases_in_order():
            paths[case.name] = folder / case.filename
            case.build(paths[case.name])
        return {c.name: paths[c.name] for c in CASES}
    finally:
        _TAG.reset(token)
