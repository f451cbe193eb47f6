"""The sampler stage: decode a video once, emit frame batches and audio chunks as they are
decoded, then a manifest telling the aggregator exactly how many batches each group gets.

Transport-free: ``sample_video`` is a generator of events; the Kafka service publishes each one
as it comes, and the one-process mode hands each one straight to the analyzers.

The sampling policy (``SamplingSettings``):

* Each frame analyzer declares a frame policy (``FramePolicy``): one frame every ``every_s``
  on a fixed grid from t=0 (default: the group's, ``heavy_interval_s`` for gpu_heavy and
  ``1 / light_fps`` for gpu_light), and optionally the first frame of every shot
  (``shots.py``, when ``heavy_shot_starts``). A group's frames are the union of its analyzers'
  policies, each frame tagged with the analyzers that wanted it (the runner hands each
  analyzer only its own); a frame that is both on a grid and a shot start is sent once, as
  ``shot_start``. The first frame is a shot start.
* Every frame is upright with square pixels (``geometry.py``), its longer side at most the
  group's ``*_max_side``, as JPEG.
* Every decoded frame is measured (``measure.py``): the shot detector (``shots.py``) decides on
  it a few frames later, and then it is picked; when a gpu_light analyzer asks for signals
  (``FramePolicy(signals=True)``), its luma thumbnail rides, with the settled shots, on the
  next gpu_light batch (``signals.py``).
* audio: mono 16-bit PCM at ``audio_sample_rate`` in chunks of ``audio_chunk_s`` that overlap by
  ``audio_overlap_s`` (``chunks.py`` has the stitching rule).

Memory does not grow with duration: a decoded frame is dropped once its JPEGs are made (at most
a few wait for the encoder thread), at most one batch per group and two audio chunks are held,
and the only per-video list is the shot starts.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeVar

import numpy as np

from tiktok_analyzer.frame_sampler.chunks import AudioChunker
from tiktok_analyzer.frame_sampler.geometry import Geometry, Scaler, encode_jpeg, fit_within
from tiktok_analyzer.frame_sampler.measure import LumaThumbnailer, cut_grid
from tiktok_analyzer.frame_sampler.shots import Decided, ShotTracker
from tiktok_analyzer.frame_sampler.signals import SignalSpans
from tiktok_analyzer.shared.contracts.events import (
    AudioChunk,
    FrameBatch,
    FrameSignals,
    Group,
    GroupPlan,
    MediaInfo,
    SampledFrame,
    SamplingManifest,
    VideoAccepted,
)
from tiktok_analyzer.shared.infra.blobs import PayloadPacker
from tiktok_analyzer.shared.runtime.plugins import frame_policies
from tiktok_analyzer.shared.settings import PipelineSettings, SamplingSettings

SamplerEvent = FrameBatch | AudioChunk | SamplingManifest
Reason = Literal["interval", "shot_start"]
Jpegs = dict[tuple[int, int], bytes]

__all__ = ["AudioChunker", "SamplerEvent", "encode_jpeg", "fit_within", "sample_video"]

# A file whose packets fail to decode this many times is not worth reading further.
_MAX_DECODE_ERRORS = 1000
# Events made ahead of the caller: a few small messages (payloads above the inline limit are
# already in the blob store), enough to keep decoding while one is published.
_EVENTS_AHEAD = 4


# --- frames -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Picked:
    """A frame chosen for a group; its JPEG is rendered on the encoder thread."""

    index: int
    t: float
    size: tuple[int, int]
    reason: Reason
    analyzers: tuple[str, ...]
    jpegs: Future[Jpegs]


@dataclass
class _Grid:
    """One analyzer's frame policy: a fixed grid of ``every_s`` from t=0, and shot starts."""

    key: str
    every_s: float
    shot_starts: bool
    next_t: float = 0.0

    def due(self, t: float) -> bool:
        """Whether ``t`` reaches the grid's next time; if so, move past it."""
        if t + 1e-6 < self.next_t:
            return False
        self.next_t += self.every_s * max(1, int((t - self.next_t) // self.every_s) + 1)
        return True


@dataclass
class _FrameGroup:
    """One group's frames: the union of its analyzers' grids, each frame tagged with the
    analyzers that wanted it."""

    group: Group
    grids: list[_Grid]
    max_side: int
    batch_size: int
    signals: bool = False  # one of its analyzers wants the signals of every frame
    pending: list[_Picked] = field(default_factory=list)
    emitted: int = 0

    def pick(self, t: float, shot_start: bool) -> tuple[tuple[str, ...], Reason]:
        """The analyzers that want the frame at ``t`` (every grid advances), and why."""
        by_grid = [g.key for g in self.grids if g.due(t)]
        by_shot = [g.key for g in self.grids if shot_start and g.shot_starts]
        keys = tuple(k for k in (g.key for g in self.grids) if k in by_grid or k in by_shot)
        return keys, ("shot_start" if by_shot else "interval")


def _frame_group(group: Group, pipeline: PipelineSettings, default_every_s: float,
                 default_side: int, batch_size: int) -> _FrameGroup:
    policies = frame_policies(pipeline.for_group(group), pipeline.settings_for_group(group))
    grids = [_Grid(key, policy.every_s or default_every_s, policy.shot_starts)
             for key, policy in policies.items() if policy.frames]
    side = max((p.max_side or default_side for p in policies.values() if p.frames),
               default=default_side)
    # Only gpu_light's batches carry signals (their consumers are there).
    signals = group is Group.GPU_LIGHT and any(p.signals for p in policies.values())
    return _FrameGroup(group, grids, side, batch_size, signals)


class _Undecided(NamedTuple):
    """A decoded frame waiting for the shot detector's decision."""

    frame: Any
    geometry: Geometry
    number: int
    t: float
    thumb: np.ndarray | None


class _Sealed(NamedTuple):
    """A full batch waiting for its JPEGs."""

    group: _FrameGroup
    batch_index: int
    items: list[_Picked]
    signals: FrameSignals | None


class _Renderer:
    """Resizes and JPEG-encodes picked frames on one worker thread, so the decoding thread
    keeps feeding FFmpeg's frame threads meanwhile (swscale and libjpeg release the GIL).
    At most ``max_in_flight`` frames wait for it: decoding blocks rather than piling up."""

    def __init__(self, quality: int, max_in_flight: int = 3) -> None:
        self.quality = quality
        self.max_in_flight = max_in_flight
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sampler-jpeg")
        self.in_flight: deque[Future[Jpegs]] = deque()
        self.scalers: dict[tuple[int, int], Scaler] = {}  # touched by the worker thread only

    def submit(self, frame: Any, geometry: Geometry, sides: list[int]) -> Future[Jpegs]:
        while self.in_flight and self.in_flight[0].done():
            self.in_flight.popleft()
        if len(self.in_flight) >= self.max_in_flight:
            self.in_flight.popleft().result()
        job = self.pool.submit(self._render, frame, geometry, sides)
        self.in_flight.append(job)
        return job

    def _render(self, frame: Any, geometry: Geometry, sides: list[int]) -> Jpegs:
        out: Jpegs = {}
        for side in sides:
            size = geometry.target_size(side)
            if size not in out:
                scaler = self.scalers.get(size) or self.scalers.setdefault(size, Scaler())
                out[size] = encode_jpeg(geometry.upright_rgb(frame, side, scaler), self.quality)
        return out

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


# --- the sampler --------------------------------------------------------------------------------


class _Sampler:
    def __init__(self, accepted: VideoAccepted, settings: SamplingSettings,
                 pipeline: PipelineSettings, packer: PayloadPacker) -> None:
        self.accepted = accepted
        self.settings = settings
        self.packer = packer
        self.heavy = _frame_group(Group.GPU_HEAVY, pipeline, settings.heavy_interval_s,
                                  settings.heavy_max_side, settings.heavy_batch)
        self.light = _frame_group(Group.GPU_LIGHT, pipeline, 1.0 / settings.light_fps,
                                  settings.light_max_side, settings.light_batch)
        self.frame_groups = [self.heavy, self.light]
        self.renderer = _Renderer(settings.jpeg_quality)
        # Full batches waiting for their JPEGs, in the order they filled up.
        self.sealed: deque[_Sealed] = deque()
        self.shots = ShotTracker(settings.shot_threshold, settings.shot_min_len_s)
        # Frames waiting for their shot-start decision (a few frames of look-ahead).
        self.undecided: deque[_Undecided] = deque()
        self.end_t: float | None = None
        self.spans = SignalSpans(packer) if self.light.signals else None
        # Without frame analyzers, gpu_light batches are cut by time: as long as a full batch.
        self.span_s = max(1.0, float(int(settings.light_batch / settings.light_fps)))
        self.next_span_s = self.span_s
        self.geometry: Geometry | None = None
        self._geometry_key: tuple[Any, ...] = ()
        self.thumbnailer: LumaThumbnailer | None = None
        self.rate = settings.audio_sample_rate
        self.audio = AudioChunker(round(settings.audio_chunk_s * self.rate),
                                  round(settings.audio_overlap_s * self.rate))
        self.audio_offset_s: float | None = None  # first audio sample, from the video start
        self.audio_batches = 0

    def _payload_key(self, group: Group, batch_index: int, item: int) -> str:
        return f"{self.accepted.video_id}/{group}/{batch_index:05d}-{item:03d}"

    def _geometry_for(self, frame: Any, stream: Any) -> Geometry:
        key = (frame.width, frame.height, frame.rotation)
        if self.geometry is None or key != self._geometry_key:
            self.geometry, self._geometry_key = Geometry.of(frame, stream), key
            if self.spans is not None:
                self.thumbnailer = LumaThumbnailer(self.geometry)
        return self.geometry

    def on_video_frame(self, frame: Any, stream: Any, number: int, t: float
                       ) -> Iterator[FrameBatch]:
        """``frame``: an av.VideoFrame, ``number``-th in decode order, at ``t`` seconds. It is
        measured now and picked once the shot detector has decided whether it starts a shot
        (``shots.LOOKAHEAD`` frames later)."""
        geometry = self._geometry_for(frame, stream)
        thumb = self.thumbnailer(frame) if self.thumbnailer is not None else None
        self.undecided.append(_Undecided(frame, geometry, number, t, thumb))
        for decided in self.shots.push(number, t, cut_grid(frame)):
            self._on_decided(decided)
        yield from self._ready_batches(block=False)

    def _on_decided(self, decided: Decided) -> None:
        """Pick the frame for the groups that want it, now that its shot start is known."""
        frame, geometry, number, t, thumb = self.undecided.popleft()
        assert number == decided.index, "decisions come in order, one a frame"
        if self.spans is not None and thumb is not None:
            self.spans.add(number, t, thumb, decided.cut)
        shot_start = decided.shot_start and self.settings.heavy_shot_starts
        picked: list[tuple[_FrameGroup, tuple[str, ...], Reason]] = []
        for fg in self.frame_groups:
            keys, reason = fg.pick(t, shot_start)  # always advances every grid
            if keys:
                picked.append((fg, keys, reason))
        if picked:
            job = self.renderer.submit(frame, geometry, [fg.max_side for fg, _, _ in picked])
            for fg, keys, reason in picked:
                fg.pending.append(_Picked(number, round(t, 4), geometry.target_size(fg.max_side),
                                          reason, keys, job))
                if len(fg.pending) >= fg.batch_size:
                    self._seal(fg, t)
        if self.light.signals and not self.light.grids and t >= self.next_span_s:
            self._seal(self.light, t)
            self.next_span_s = (int(t // self.span_s) + 1) * self.span_s

    def _seal(self, fg: _FrameGroup, t: float | None) -> None:
        """Close ``fg``'s open batch at frame time ``t`` (None: the video's end)."""
        signals = None
        if fg.signals and self.spans is not None:
            self.spans.add_shots(self.shots.take_shots())
            signals = self.spans.take(self._payload_key(fg.group, fg.emitted, 999), t,
                                      end_t=self.end_t)
        self.sealed.append(_Sealed(fg, fg.emitted, fg.pending, signals))
        fg.pending = []
        fg.emitted += 1

    def _ready_batches(self, block: bool) -> Iterator[FrameBatch]:
        """Every sealed batch whose JPEGs are done (all of them if ``block``), in order."""
        while self.sealed:
            fg, batch_index, items, signals = self.sealed[0]
            if not block and not all(item.jpegs.done() for item in items):
                return
            self.sealed.popleft()
            frames = [
                SampledFrame(index=item.index, t=item.t, width=item.size[0],
                             height=item.size[1], reason=item.reason,
                             analyzers=list(item.analyzers),
                             jpeg=self.packer.pack(item.jpegs.result()[item.size],
                                                   self._payload_key(fg.group, batch_index, i),
                                                   "image/jpeg"))
                for i, item in enumerate(items)
            ]
            yield FrameBatch(video_id=self.accepted.video_id, group=fg.group,
                             batch_index=batch_index, frames=frames, signals=signals)

    def on_audio(self, samples: np.ndarray) -> Iterator[AudioChunk]:
        for start, lead, window in self.audio.push(samples):
            yield self._audio_chunk(start, lead, window)

    def _audio_chunk(self, start: int, lead: int, window: np.ndarray) -> AudioChunk:
        chunk = AudioChunk(
            video_id=self.accepted.video_id,
            batch_index=self.audio_batches,
            start_s=round((self.audio_offset_s or 0.0) + start / self.rate, 6),
            sample_rate=self.rate,
            num_samples=len(window),
            overlap_s=round(lead / self.rate, 6),
            pcm_s16le=self.packer.pack(window.astype("<i2").tobytes(),
                                       self._payload_key(Group.AUDIO, self.audio_batches, 0),
                                       "audio/L16"),
        )
        self.audio_batches += 1
        return chunk

    def finish(self, end_t: float) -> Iterator[FrameBatch | AudioChunk]:
        """``end_t``: where the video ends (its last frame's end), seconds."""
        self.end_t = end_t
        for decided in self.shots.finish(end_t):
            self._on_decided(decided)
        if self.spans is not None:
            self.spans.add_shots(self.shots.take_shots())
        for fg in self.frame_groups:
            # gpu_light's last batch carries the rest of the signals and every shot left.
            if fg.pending or (fg.signals and self.spans is not None and self.spans.pending):
                self._seal(fg, None)
        yield from self._ready_batches(block=True)
        for start, lead, window in self.audio.finish():
            yield self._audio_chunk(start, lead, window)


# --- decoding -----------------------------------------------------------------------------------


class _Resampler:
    """Decoded audio to mono 16-bit samples at ``rate``. Frames are gathered into blocks of
    about half a second before resampling: one resampler call per block rather than one per
    AAC frame of 1024 samples halves the cost of the audio path."""

    def __init__(self, av: Any, rate: int) -> None:
        self.av = av
        self.rate = rate
        self._start()

    def _start(self) -> None:
        self.resampler = self.av.AudioResampler(format="s16", layout="mono", rate=self.rate)
        self.fifo = self.av.AudioFifo()

    def push(self, frame: Any) -> Iterator[np.ndarray]:
        frame.pts = None  # times are tracked by the caller; the fifo needs none
        try:
            self.fifo.write(frame)
        except ValueError:  # format, layout or rate changed mid-stream: finish the old one
            yield from self.finish()
            self._start()
            self.fifo.write(frame)
        block = max(1, frame.sample_rate // 2)
        while self.fifo.samples >= block:
            yield from self._resample(self.fifo.read(block))

    def finish(self) -> Iterator[np.ndarray]:
        yield from self._drain()
        yield from self._resample(None)

    def _drain(self) -> Iterator[np.ndarray]:
        if self.fifo.samples:
            yield from self._resample(self.fifo.read())

    def _resample(self, frame: Any) -> Iterator[np.ndarray]:
        for out in self.resampler.resample(frame):
            yield out.to_ndarray().reshape(-1)


@dataclass
class _DecodeLog:
    """How decoding went: how far each stream got (in its own seconds) and what failed."""

    video_end: float | None = None
    audio_end: float | None = None
    stopped: str | None = None
    decode_errors: int = 0
    first_decode_error: str | None = None


def _frames(av: Any, container: Any, streams: list[Any], log: _DecodeLog
            ) -> Generator[Any, None, None]:
    """Every decodable frame of ``streams`` in one demux pass. A packet that fails to decode is
    skipped; an error from the demuxer (a damaged or cut container) ends the pass, after
    draining what the decoders still hold."""
    packets = container.demux(streams)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError as exc:
            log.stopped = str(exc)
            break
        try:
            frames = packet.decode()
        except av.FFmpegError as exc:
            log.decode_errors += 1
            log.first_decode_error = log.first_decode_error or str(exc)
            if log.decode_errors >= _MAX_DECODE_ERRORS:
                log.stopped = f"{log.decode_errors} packets failed to decode"
                break
            continue
        yield from frames
    for stream in streams:  # the demuxer never sent its flush packets: drain the decoders
        try:
            drained = stream.decode(None)
        except av.FFmpegError:
            continue
        yield from drained


def _declared(stream: Any, container: Any) -> tuple[float, float] | None:
    """(start, duration) the file declares for ``stream``, in the stream's own seconds."""
    if stream.duration and stream.time_base:
        start = stream.start_time * stream.time_base if stream.start_time is not None else 0
        return float(start), float(stream.duration * stream.time_base)
    if container.duration and container.duration > 0:
        return float(container.start_time or 0) / 1_000_000, container.duration / 1_000_000
    return None


def _truncation_warnings(container: Any, video: Any, audio: Any, log: _DecodeLog,
                         frame_s: float) -> list[str]:
    """"input looks truncated: ..." when the demuxer stopped with an error, or when a stream
    decoded to more than 1 s, or 10% of its declared duration, short of what the file declares;
    after damaged packets (a cut file's last packet is partial) any shortfall of more than two
    frames counts."""
    warnings: list[str] = []
    start = float(container.start_time or 0) / 1_000_000
    if log.stopped is not None:
        reached = max((e for e in (log.video_end, log.audio_end) if e is not None), default=start)
        warnings.append(f"input looks truncated: reading stopped with an error at "
                        f"{reached - start:.2f} s ({log.stopped})")
    else:
        for kind, stream, end, tolerance in (("video", video, log.video_end, 2 * frame_s),
                                             ("audio", audio, log.audio_end, 0.1)):
            declared = _declared(stream, container) if stream is not None else None
            if declared is None:
                continue
            stream_start, duration = declared
            reached = max(0.0, end - stream_start) if end is not None else 0.0
            allowed = tolerance if log.decode_errors else max(min(1.0, 0.1 * duration),
                                                              tolerance)
            if duration - reached > allowed:
                warnings.append(f"input looks truncated: {kind} decodes to {reached:.2f} s of "
                                f"the {duration:.2f} s the file declares")
                break
    if log.decode_errors:
        warnings.append(f"{log.decode_errors} damaged packet(s) could not be decoded and were "
                        f"skipped (first: {log.first_decode_error})")
    return warnings


def sample_video(path: Path, accepted: VideoAccepted, packer: PayloadPacker,
                 settings: SamplingSettings | None = None,
                 pipeline: PipelineSettings | None = None) -> Iterator[SamplerEvent]:
    """The events of one video, in order: batches and chunks as they are decoded, the manifest
    last. The work runs on three threads besides the caller's, each a bounded step ahead of the
    next: demux + decode, sampling (shot detection, picking, audio chunks, events), and resize +
    JPEG. Decoding thus goes on while the caller publishes (waiting for the broker) or analyzes,
    and the decoder's threads never wait for the sampler. Closing the iterator early stops all
    of them."""
    return _ahead(_sample(path, accepted, packer, settings or SamplingSettings(),
                          pipeline or PipelineSettings()), _EVENTS_AHEAD, "sampler-events")


T = TypeVar("T")


def _ahead(items: Generator[T, None, None], depth: int, name: str) -> Generator[T, None, None]:
    """``items`` produced on a thread of its own, at most ``depth`` ahead of the consumer.
    Exceptions reach the consumer; closing the result stops the thread and closes ``items``."""
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(("item", item)):
                    return
            put(("done", None))
        except BaseException as exc:  # handed to the consumer, raised there
            put(("error", exc))
        finally:
            items.close()  # on the thread that ran it

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            kind, value = handoff.get()
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        worker.join()


def _chosen_streams(container: Any, media: MediaInfo) -> tuple[Any, Any]:
    """The video and audio streams the gate chose (``MediaInfo``'s indices). Events from
    before the gate named them: the first video stream that is not a cover picture, the first
    audio stream."""
    import av

    def pick(index: int | None, streams: Any, kind: str) -> Any:
        if index is not None and 0 <= index < len(container.streams):
            stream = container.streams[index]
            return stream if stream.type == kind else None
        cover = av.stream.Disposition.attached_pic | av.stream.Disposition.timed_thumbnails
        return next((s for s in streams if not s.disposition & cover), None)

    return (pick(media.video_stream_index, container.streams.video, "video"),
            pick(media.audio_stream_index, container.streams.audio, "audio"))


def _sample(path: Path, accepted: VideoAccepted, packer: PayloadPacker,
            settings: SamplingSettings, pipeline: PipelineSettings
            ) -> Generator[SamplerEvent, None, None]:
    import av

    started = time.perf_counter()
    sampler = _Sampler(accepted, settings, pipeline, packer)
    log = _DecodeLog()
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            video, audio = _chosen_streams(container, accepted.media)
            if video is not None:
                video.thread_type = "AUTO"  # frame + slice threads: decoding is the main cost
                video.thread_count = settings.decoder_threads
            resampler = _Resampler(av, sampler.rate) if audio is not None else None
            start = float(container.start_time or 0) / 1_000_000
            fps = float(video.average_rate or video.guessed_rate or 30) if video else 30.0
            decoded_frames = 0
            # Decoded frames carry their stream's time base; a float of it once per stream
            # spares two Fractions per frame.
            video_tb = float(video.time_base or 0) if video is not None else 0.0
            audio_tb = float(audio.time_base or 0) if audio is not None else 0.0

            def handle(frame: Any) -> Iterator[FrameBatch | AudioChunk]:
                nonlocal decoded_frames
                if isinstance(frame, av.VideoFrame):
                    decoded_frames += 1
                    if frame.pts is None:
                        return
                    pts = frame.pts * video_tb
                    length = frame.duration * video_tb if frame.duration else 1 / fps
                    log.video_end = max(log.video_end or pts, pts + length)
                    yield from sampler.on_video_frame(frame, video, decoded_frames - 1,
                                                      max(0.0, pts - start))
                elif isinstance(frame, av.AudioFrame) and resampler is not None:
                    audio_pts = frame.pts * audio_tb if frame.pts is not None else None
                    if sampler.audio_offset_s is None:  # audio may start after the video
                        sampler.audio_offset_s = (max(0.0, audio_pts - start)
                                                  if audio_pts is not None else 0.0)
                    if audio_pts is not None:
                        log.audio_end = max(log.audio_end or audio_pts,
                                            audio_pts + frame.samples / frame.sample_rate)
                    for samples in resampler.push(frame):
                        yield from sampler.on_audio(samples)

            for frame in _frames(av, container, [s for s in (video, audio) if s], log):
                yield from handle(frame)
            if resampler is not None:
                for samples in resampler.finish():
                    yield from sampler.on_audio(samples)
            warnings = [*accepted.warnings,
                        *_truncation_warnings(container, video, audio, log, 1 / fps)]
        yield from sampler.finish(max(0.0, (log.video_end or start) - start))
    finally:
        sampler.renderer.close()

    def plan(group: Group, batches: int, stream: Any, missing: str) -> GroupPlan:
        reason = missing if stream is None else "no decodable input" if batches == 0 else None
        return GroupPlan(batches=batches, analyzers=pipeline.for_group(group), skip_reason=reason)

    geometry = sampler.geometry
    display = geometry.display_size if geometry else (None, None)
    ends = [e - start for e in (log.video_end, log.audio_end) if e is not None]
    yield SamplingManifest(
        video_id=accepted.video_id, source=accepted.source, media=accepted.media,
        warnings=warnings,
        groups={
            Group.GPU_HEAVY: plan(Group.GPU_HEAVY, sampler.heavy.emitted, video,
                                  "no video stream"),
            Group.GPU_LIGHT: plan(Group.GPU_LIGHT, sampler.light.emitted, video,
                                  "no video stream"),
            Group.AUDIO: plan(Group.AUDIO, sampler.audio_batches, audio, "no audio stream"),
        },
        decode_s=round(time.perf_counter() - started, 3),
        shot_starts_s=list(sampler.shots.starts),
        display_width=display[0], display_height=display[1],
        rotation_deg=geometry.rotation_cw if geometry else 0,
        decoded_duration_s=round(max(ends), 4) if ends else None,
    )
