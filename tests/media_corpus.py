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

- **encryption**: FFmpeg cannot write encrypted files, so the encrypted cases take a clear
  file PyAV wrote and add exactly the structures an encrypting packager adds. MP4
  (ISO/IEC 23001-7 Common Encryption): each sample entry is renamed (``avc1`` -> ``encv``,
  ``mp4a`` -> ``enca``) and gets a ``sinf`` box holding ``frma`` (the original four-letter
  code), ``schm`` (scheme ``cbcs``) and ``schi``/``tenc`` (default key ID, IV size), and
  ``moov`` gets a Widevine ``pssh`` box. WebM (the WebM encryption spec): every TrackEntry
  gets ContentEncodings/ContentEncoding with ContentEncodingType 1 and ContentEncryption
  (AES, a key ID, CTR mode). MPEG-TS: the ``transport_scrambling_control`` bits of every media
  packet. Only the payload stays clear, which is what no gate can see without keys anyway;
  the builders check that FFmpeg itself reads the result as encrypted (per-packet
  ``encryption_info`` side data for MP4, the ``enc_key_id`` stream tag for WebM) and, for TS,
  that it still demuxes the packets (so without the gate's check they would be decoded).
- **cover art**: an ``mjpeg`` stream with ``Disposition.attached_pic`` and one packet, which
  the mp3 muxer writes as an ID3v2 APIC frame and the demuxer reads back as such a stream.
- **DTS** is allowed by the gate but has no case: FFmpeg has no DTS encoder built into PyAV.

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

import contextlib
import contextvars
import hashlib
import itertools
import os
import random
import struct
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


@contextlib.contextmanager
def _svt_av1() -> Iterator[None]:
    """Around an SVT-AV1 encode: its banner off, and this thread's scheduling put back.

    SVT-AV1 run as root switches the thread that opens the encoder to SCHED_FIFO priority 99
    (measured: the test process was FIFO 99 after the first AV1 case). Every process started
    after that inherits it: services, Chromium and Go builds then ran real-time on both cores,
    and one of them spinning in the kernel starved everything else for many minutes."""
    quiet = "SVT_LOG" not in os.environ  # SVT-AV1 prints its banner to stderr unless told
    if quiet:
        os.environ["SVT_LOG"] = "1"  # errors only
    policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    try:
        yield
    finally:
        if quiet:
            del os.environ["SVT_LOG"]
        if (os.sched_getscheduler(0), os.sched_getparam(0)) != (policy, param):
            os.sched_setscheduler(0, policy, param)


def _av1(path: Path) -> None:
    with _svt_av1():
        _write(path, video=_Video(codec="libsvtav1", options={"preset": "10"}))
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


def _many_audio_tracks(path: Path) -> None:
    _write(path, video=_Video(), audio_streams=10, seconds=1.0)
    with av.open(str(path)) as container:
        counts = (len(container.streams.video), len(container.streams.audio))
        _require(counts == (1, 10), f"many_audio_tracks: (video, audio) = {counts}")


def _tone(n0: int, count: int, rate: int) -> np.ndarray:
    tone = 2 * np.pi * (440 + 3 * _phase()) / rate
    return (0.3 * np.sin(tone * np.arange(n0, n0 + count, dtype=np.float64))).astype(np.float32)


def _write_tracks(target: Path, codec: str, *, layouts: tuple[str, ...] = ("stereo",),
                  default: int | None = None, fmt: str | None = None, rate: int = 48_000,
                  seconds: float = 1.0, cover: bool = False,
                  options: dict[str, str] | None = None) -> None:
    """Audio tracks of the given channel layouts (only track ``default`` marked default when
    given), optionally after a cover picture (``attached_pic``)."""
    with av.open(str(target), "w", format=fmt, options=options or {}) as out:
        if _TAG.get():
            out.metadata["comment"] = f"media corpus run {_TAG.get()}"
        if cover:
            pic: Any = out.add_stream("mjpeg")
            pic.width = pic.height = 64
            pic.pix_fmt = "yuvj420p"
            pic.disposition = av.stream.Disposition.attached_pic
        tracks: list[Any] = []
        for i, layout in enumerate(layouts):
            track: Any = out.add_stream(codec, rate=rate)
            track.layout = layout
            if default is not None:
                track.disposition = (av.stream.Disposition.default if i == default
                                     else av.stream.Disposition(0))
            tracks.append(track)
        if cover:
            image = av.VideoFrame.from_ndarray(
                np.full((64, 64, 3), (200, 40 + _phase(), 40), np.uint8), format="rgb24")
            image.pts = 0
            for packet in [*pic.encode(image.reformat(format="yuvj420p")), *pic.encode(None)]:
                out.mux(packet)
        chunk = tracks[0].codec_context.frame_size or 1024
        for j in range(int(seconds * rate) // chunk):
            for track in tracks:
                channels = track.codec_context.channels
                frame = av.AudioFrame.from_ndarray(
                    np.repeat(_tone(j * chunk, chunk, rate)[None, :], channels, axis=0),
                    format="fltp", layout=track.layout.name)
                frame.sample_rate, frame.pts = rate, j * chunk
                frame.time_base = Fraction(1, rate)
                out.mux(track.encode(frame))
        for track in tracks:
            out.mux(track.encode(None))


def _expect_streams(path: Path, want: list[tuple[str, str]], fmt: str | None = None) -> Any:
    """The file opens with exactly these (type, codec) streams, and its first frames decode."""
    with av.open(str(path)) as container:
        got = [(s.type, s.codec.canonical_name) for s in container.streams]
        _require(got == want, f"{path.name}: streams {got}, want {want}")
        _require(fmt is None or fmt in container.format.name.split(","),
                 f"{path.name}: format {container.format.name}, want {fmt}")
    for index in range(len(want)):  # a fresh demux each: one stream's read skips the others'
        with av.open(str(path)) as container:
            _require(next(container.decode(container.streams[index]), None) is not None,
                     f"{path.name}: stream {index} decodes nothing")
    return got


def _audio_file(codec: str, fmt: str | None, want_fmt: str,
                **kwargs: Any) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        _write_tracks(path, codec, fmt=fmt, **kwargs)
        with av.open(str(path)) as container:
            canonical = container.streams.audio[0].codec.canonical_name
        _expect_streams(path, [("audio", canonical)], want_fmt)

    return build


def _ac3_with_video(path: Path) -> None:
    _write(path, video=_Video(), audio_codec="ac3")
    _expect_streams(path, [("video", "h264"), ("audio", "ac3")])


def _gif(path: Path) -> None:
    _write(path, video=_Video(codec="gif", pix_fmt="rgb8", fps=10, width=96, height=96),
           audio_streams=0, seconds=1.5)
    _expect_streams(path, [("video", "gif")], "gif")
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    _require(frames >= 10, f"gif: only {frames} frames (not animated)")


def _av1_ivf(path: Path) -> None:
    with _svt_av1():
        _write(path, video=_Video(codec="libsvtav1", options={"preset": "10"}, height=288),
               audio_streams=0, fmt="ivf")
    _expect_streams(path, [("video", "av1")], "ivf")


def _mp3_cover(path: Path) -> None:
    _write_tracks(path, "libmp3lame", fmt="mp3", rate=44_100, seconds=2.0, cover=True)
    _expect_streams(path, [("audio", "mp3"), ("video", "mjpeg")], "mp3")
    with av.open(str(path)) as container:
        _require(container.streams.video[0].disposition & av.stream.Disposition.attached_pic,
                 "mp3_cover: the picture is not marked attached_pic")


def _dubbed_tracks(path: Path) -> None:
    """A 5.1 track first but not default, the default stereo mix second: the default wins."""
    _write_tracks(path, "aac", layouts=("5.1", "stereo", "mono"), default=1, fmt="matroska",
                  options={"default_mode": "passthrough"})
    with av.open(str(path)) as container:
        flags = [bool(s.disposition & av.stream.Disposition.default)
                 for s in container.streams.audio]
        channels = [s.codec_context.channels for s in container.streams.audio]
    _require(flags == [False, True, False] and channels == [6, 2, 1],
             f"dubbed_tracks: default flags {flags}, channels {channels}")


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


_WIDEVINE = bytes.fromhex("edef8ba979d64acea3c827dcd51d21ed")
_KEY_ID = bytes(range(16))


def _protect_mp4(data: bytes, start: int, end: int) -> bytes:
    """The boxes in ``data[start:end]`` as a Common Encryption packager leaves them (see the
    module docstring); box sizes of every parent are recomputed."""
    out, pos = b"", start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        payload = data[pos + 8: pos + size]
        if kind in (b"moov", b"trak", b"mdia", b"minf", b"stbl"):
            payload = _protect_mp4(data, pos + 8, pos + size)
            if kind == b"moov":
                payload += _box(b"pssh", b"\0\0\0\0" + _WIDEVINE + struct.pack(">I", 4) + b"demo")
        elif kind == b"stsd":  # version, flags, entry count, then the sample entries
            payload = payload[:8] + _protect_mp4(data, pos + 16, pos + size)
        elif kind in (b"avc1", b"mp4a"):
            tenc = _box(b"tenc", b"\0\0\0\0" + b"\0\0\x01\x08" + _KEY_ID)
            payload += _box(b"sinf", _box(b"frma", kind)
                            + _box(b"schm", b"\0\0\0\0cbcs" + struct.pack(">I", 0x10000))
                            + _box(b"schi", tenc))
            kind = b"encv" if kind == b"avc1" else b"enca"
        out += _box(kind, payload)
        pos += size
    return out


def _encrypted_mp4(path: Path) -> None:
    _write(path, video=_Video())
    data = path.read_bytes()
    _require(data.find(b"moov") > data.find(b"mdat") > 0,
             "moov must follow mdat so chunk offsets survive its growth")
    path.write_bytes(_protect_mp4(data, 0, len(data)))
    with av.open(str(path)) as container:
        packet = next(p for p in container.demux() if p.size)
        _require(packet.has_sidedata("encryption_info"),
                 "encrypted_mp4: FFmpeg does not read the packets as encrypted")


def _ebml(ident: int, payload: bytes) -> bytes:
    # Sizes as 8-byte variable-length integers: valid EBML, and no length arithmetic.
    return (ident.to_bytes((ident.bit_length() + 7) // 8, "big") + b"\x01"
            + len(payload).to_bytes(7, "big") + payload)


def _ebml_uint(ident: int, value: int) -> bytes:
    return _ebml(ident, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def _ebml_children(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(id, element start, payload start, element end); an unknown size runs to ``end``."""
    pos = start
    while pos < end:
        id_len = 9 - data[pos].bit_length()
        ident = int.from_bytes(data[pos: pos + id_len], "big")
        size_len = 9 - data[pos + id_len].bit_length()
        raw = int.from_bytes(data[pos + id_len: pos + id_len + size_len], "big")
        size = raw & ((1 << (7 * size_len)) - 1)
        body = pos + id_len + size_len
        stop = end if size == (1 << (7 * size_len)) - 1 else body + size
        yield ident, pos, body, stop
        pos = stop


def _encrypted_webm(path: Path) -> None:
    # Written unseekable: no SeekHead or Cues point past the Tracks that grow below.
    with path.open("wb") as raw:
        _write(_Unseekable(raw), video=_Video(codec="libvpx-vp9",  # type: ignore[arg-type]
                                              options={"deadline": "realtime", "cpu-used": "8"}),
               audio_codec="libopus", fmt="webm", seconds=1.0)
    encryption = _ebml(0x6D80, _ebml(0x6240, (  # ContentEncodings, ContentEncoding
        _ebml_uint(0x5031, 0) + _ebml_uint(0x5032, 1) + _ebml_uint(0x5033, 1)  # type 1: encrypt
        + _ebml(0x5035, _ebml_uint(0x47E1, 5) + _ebml(0x47E2, _KEY_ID)  # AES, key ID
                + _ebml(0x47E7, _ebml_uint(0x47E8, 1))))))  # AES-CTR
    data, out = path.read_bytes(), b""
    for ident, pos, body, stop in _ebml_children(data, 0, len(data)):
        if ident != 0x18538067:  # not the Segment
            out += data[pos:stop]
            continue
        out += data[pos:body]  # its header, unknown size kept
        for child, cpos, cbody, cstop in _ebml_children(data, body, stop):
            if child == 0x1654AE6B:  # Tracks: every TrackEntry gets the encryption
                out += _ebml(child, b"".join(
                    _ebml(t, data[tbody:tstop] + encryption) if t == 0xAE else data[tpos:tstop]
                    for t, tpos, tbody, tstop in _ebml_children(data, cbody, cstop)))
            else:
                out += data[cpos:cstop]
    path.write_bytes(out)
    with av.open(str(path)) as container:
        keys = [s.metadata.get("enc_key_id") for s in container.streams]
    _require(all(keys) and len(keys) == 2, f"encrypted_webm: enc_key_id tags {keys}")


def _scrambled_ts(path: Path) -> None:
    _write(path, video=_Video(), fmt="mpegts", seconds=1.0)
    data = bytearray(path.read_bytes())
    with av.open(str(path)) as container:
        media = {s.id for s in container.streams}
        clear = _packets(path)
    scrambled = 0
    for at in range(0, len(data) - 187, 188):
        pid = ((data[at + 1] & 0x1F) << 8) | data[at + 2]
        if pid in media and data[at + 3] & 0x10:  # a media packet with payload
            data[at + 3] |= 0x80  # scrambling control '10': even key
            scrambled += 1
    path.write_bytes(bytes(data))
    _require(scrambled > 10 and _packets(path) == clear,
             f"scrambled_ts: {scrambled} packets scrambled, demux {_packets(path)} of {clear}")


def _stream_flood(path: Path) -> None:
    _write(path, video=None, audio_streams=80, audio_codec="pcm_s16le", seconds=0.1,
           fmt="matroska")
    with av.open(str(path)) as container:
        _require(len(container.streams.audio) == 80, "stream_flood: streams lost")


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
    _complete("many_audio_tracks", "streams.mkv", _many_audio_tracks, "10 audio streams"),
    _rejected("stream_flood", "flood.mkv", _stream_flood, "too many streams"),
    _complete("ac3_audio", "ac3.mp4", _ac3_with_video, None),
    _complete("eac3_raw", "surround.eac3",
              _audio_file("eac3", "eac3", "eac3", layouts=("5.1",)), "no video stream"),
    _complete("alac_m4a", "lossless.m4a", _audio_file("alac", "ipod", "mp4"),
              "no video stream"),
    _complete("pcm_24bit_wav", "studio.wav", _audio_file("pcm_s24le", "wav", "wav"),
              "no video stream"),
    _complete("adts_aac", "voice.aac", _audio_file("aac", "adts", "aac"), "no video stream"),
    _complete("animated_gif", "loop.gif", _gif, "no audio stream"),
    _complete("av1_ivf", "clip.ivf", _av1_ivf, "no audio stream"),
    _complete("mp3_cover", "song.mp3", _mp3_cover, "cover picture"),
    _complete("dubbed_tracks", "dubbed.mkv", _dubbed_tracks, "stream 1 (the default)"),
    _rejected("encrypted_mp4", "drm.mp4", _encrypted_mp4, "encrypted"),
    _rejected("encrypted_webm", "drm.webm", _encrypted_webm, "encrypted"),
    _rejected("scrambled_ts", "scrambled.ts", _scrambled_ts, "encrypted"),
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
