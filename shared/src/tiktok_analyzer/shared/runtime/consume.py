"""The consumer stage shared by gpu_heavy, gpu_light and audio: decode the payloads of the
batches consumed together once, run the group's analyzers on all of them (their model calls
take frames from several batches, ``GroupRunner.run_many``), return one partial result per
batch."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tiktok_analyzer.shared.contracts.events import (
    AnalyzerRun,
    AnalyzerStatus,
    AudioChunk,
    FrameBatch,
    FrameSignals,
    PartialResult,
)
from tiktok_analyzer.shared.infra.blobs import BlobStore, unpack
from tiktok_analyzer.shared.runtime.analyzers import (
    AudioInput,
    DecodedFrame,
    DecodedSignals,
    FramesInput,
    GroupRunner,
)


def decode_jpeg(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def decode_signals(signals: FrameSignals, store: BlobStore | None) -> DecodedSignals:
    count = signals.lead_in + len(signals.times)
    thumbs = np.frombuffer(unpack(signals.thumbs, store), dtype=np.uint8).reshape(
        count, signals.thumb_height, signals.thumb_width)
    return DecodedSignals(start_index=signals.start_index,
                          times=np.asarray(signals.times, dtype=np.float64),
                          end_t=signals.end_t, cuts=frozenset(signals.cuts), thumbs=thumbs,
                          lead_in=signals.lead_in, shots=signals.shots)


def to_input(event: FrameBatch | AudioChunk, store: BlobStore | None) -> FramesInput | AudioInput:
    if isinstance(event, FrameBatch):
        return FramesInput(
            video_id=event.video_id,
            batch_index=event.batch_index,
            frames=[DecodedFrame(f.index, f.t, decode_jpeg(unpack(f.jpeg, store)),
                                 frozenset(f.analyzers))
                    for f in event.frames],
            signals=decode_signals(event.signals, store) if event.signals else None,
        )
    pcm = np.frombuffer(unpack(event.pcm_s16le, store), dtype="<i2")
    return AudioInput(
        video_id=event.video_id,
        batch_index=event.batch_index,
        start_s=event.start_s,
        sample_rate=event.sample_rate,
        samples=(pcm.astype(np.float32) / 32768.0),
        overlap_s=event.overlap_s,
    )


class BatchingSettings(BaseSettings):
    """How many input messages an analyzer service takes at once (``TIKTOK_BATCHING_*``)."""

    model_config = SettingsConfigDict(env_prefix="TIKTOK_BATCHING_", frozen=True, extra="ignore")

    max_messages: int = Field(
        default=8, ge=1,
        description="Most messages (batches, of any videos) analyzed together: their frames "
                    "fill the analyzers' model calls up to each one's batch size. 1: one "
                    "batch at a time")
    wait_ms: int = Field(
        default=20, ge=1,
        description="How long the consumer waits for a message when none is fetched yet; "
                    "messages already fetched are taken at once, up to max_messages")


class RetrySettings(BaseSettings):
    """A batch whose handling raises (not an analyzer's error: the runner turns those into a
    ``failed`` run; not an outage: ``infra.outage`` waits those out), e.g. a payload whose
    object is gone (``TIKTOK_RETRY_*``)."""

    model_config = SettingsConfigDict(env_prefix="TIKTOK_RETRY_", frozen=True, extra="ignore")

    attempts: int = Field(default=3, ge=1, description="Tries before it is dead-lettered")
    backoff_s: float = Field(
        default=1.0, ge=0, description="Wait before the second try; doubled for each next one")


Event = FrameBatch | AudioChunk


def failed_result(runner: GroupRunner, event: Event, reason: str) -> PartialResult:
    """What the aggregator gets for a batch that could not be analyzed at all: every analyzer
    of the group ``failed`` with the reason, so the video's report says so (instead of waiting
    for the batch until its deadline and calling it missing)."""
    return PartialResult(video_id=event.video_id, group=event.group,
                         batch_index=event.batch_index, runs=[
                             AnalyzerRun(analyzer=a.key, version=a.version,
                                         status=AnalyzerStatus.FAILED, reason=reason,
                                         elapsed_s=0.0)
                             for a in runner.analyzers])


def analyze_batch(runner: GroupRunner, event: Event, store: BlobStore | None) -> PartialResult:
    return analyze_batches(runner, [event], store)[0]


def analyze_batches(runner: GroupRunner, events: Sequence[Event], store: BlobStore | None
                    ) -> list[PartialResult]:
    """One partial result per event, in order; the analyzers run on all of them at once."""
    for event in events:
        if event.group is not runner.group:
            raise ValueError(f"{event.group} batch sent to the {runner.group} runner")
    # The transport edge: typed outcomes become the wire event here and nowhere else.
    outcomes = runner.run_many([to_input(event, store) for event in events])
    return [PartialResult(video_id=event.video_id, group=event.group,
                          batch_index=event.batch_index, runs=[o.to_event() for o in runs])
            for event, runs in zip(events, outcomes, strict=True)]
