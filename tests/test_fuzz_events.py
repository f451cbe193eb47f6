"""Fuzzing the event decoders and the report builder with hypothesis.

Every consumer turns a Kafka message's bytes into an event with ``kafka.decode`` (the same
call ``decode_or_deadletter`` makes before a handler sees anything); the aggregator then joins
what decoded into reports. Properties, on arbitrary bytes, arbitrary JSON and valid events
with one part mutated:

- decoding never raises: the result is the topic's event or a ``Poison`` (the dead letter)
  with one of the four kinds and a reason of 1-300 characters;
- an event that decodes re-encodes to JSON that decodes to the same event (what a service
  publishes onward stays readable);
- the aggregator, fed any sequence of decodable events for a few videos, never raises, gives
  every video it has a source for at least one report once its deadline passed, numbers each
  video's reports 1, 2, ... without repeats, and every report survives the JSON round trip the
  report topic's readers make.

Budget: ``max_examples`` below in CI; ``HYPOTHESIS_PROFILE=long`` multiplies it by 20 (see
docs/reliability.md, "Fuzzing", for the counts of both runs).
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, get_args

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from tiktok_analyzer.aggregator.join import Aggregator
from tiktok_analyzer.ingest.notifications import MinioNotification
from tiktok_analyzer.shared.contracts.events import (
    AggregatorInput,
    AnalyzerRun,
    AnalyzerStatus,
    AudioChunk,
    FrameBatch,
    FrameSignals,
    Group,
    GroupPlan,
    InlineBlob,
    MediaInfo,
    ObjectRef,
    PartialResult,
    SampledFrame,
    SamplingManifest,
    ScrapedVideo,
    StreamInfo,
    UpstreamInfo,
    VideoAccepted,
    VideoMetadata,
    VideoRejected,
)
from tiktok_analyzer.shared.contracts.report import FinalReport
from tiktok_analyzer.shared.contracts.topics import (
    AGGREGATOR_IN,
    AUDIO_CHUNKS,
    FRAMES_HEAVY,
    FRAMES_LIGHT,
    SCRAPED,
    UPLOADS,
    VIDEOS,
)
from tiktok_analyzer.shared.infra import kafka

LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"


def budget(examples: int) -> settings:
    # No "explain" phase: on a failure it re-runs each example many times over, minutes here.
    return settings(max_examples=examples * (20 if LONG else 1), deadline=None,
                    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


LIMIT = 64 * 1024
ADAPTERS: dict[str, TypeAdapter[Any]] = {
    name: kafka.adapter_for(model) for name, model in {
        UPLOADS.name: MinioNotification, SCRAPED.name: ScrapedVideo, VIDEOS.name: VideoAccepted,
        FRAMES_HEAVY.name: FrameBatch, FRAMES_LIGHT.name: FrameBatch,
        AUDIO_CHUNKS.name: AudioChunk, AGGREGATOR_IN.name: AggregatorInput}.items()}
TOPICS = sorted(ADAPTERS)

# --- valid events, the seeds the mutations start from ---------------------------------------

REF = ObjectRef(bucket="uploads", key="fuzz/a.mp4", etag="e", size=1000)
MEDIA = MediaInfo(container="mov,mp4,m4a,3gp,3g2,mj2", duration_s=4.0, size_bytes=1000,
                  width=360, height=640, fps=30.0, video_codec="h264", audio_codec="aac",
                  audio_sample_rate=48_000, video_stream_index=0, audio_stream_index=1,
                  streams=[StreamInfo(index=0, kind="video", codec="h264", width=360,
                                      height=640, fps=30.0),
                           StreamInfo(index=1, kind="audio", codec="aac", sample_rate=48_000,
                                      channels=2)])
UPSTREAM = UpstreamInfo(platform_video_id="7301234567890123456", author="@a", caption="c",
                        hashtags=["x"])
QUALITY = {"t": 0.5, "width": 360, "height": 640, "sharpness": 1.0, "noise": 0.0,
           "contrast": 0.1, "clipped_dark": 0.0, "clipped_bright": 0.0,
           "black_bars": {"top": 0, "bottom": 0, "left": 0, "right": 0}, "blockiness": 1.0,
           "effective_resolution": 360, "combing": 0.0, "letterbox": None}
# Each group's plan names one analyzer whose plugin the aggregator has (records, summary).
PLANS = {Group.GPU_HEAVY: ("objects", 1), Group.GPU_LIGHT: ("quality", 2),
         Group.AUDIO: ("audio_features", 1)}


def manifest(video_id: str) -> SamplingManifest:
    return SamplingManifest(
        video_id=video_id, source=REF, media=MEDIA, decode_s=0.2, shot_starts_s=[0.0, 1.5],
        display_width=360, display_height=640, decoded_duration_s=4.0,
        groups={g: GroupPlan(batches=n, analyzers=[key]) for g, (key, n) in PLANS.items()})


def partial(video_id: str, group: Group, batch: int) -> PartialResult:
    key = PLANS[group][0]
    records = [QUALITY | {"t": batch + 0.5}] if key == "quality" else []
    return PartialResult(video_id=video_id, group=group, batch_index=batch, runs=[
        AnalyzerRun(analyzer=key, version="1", status=AnalyzerStatus.OK, elapsed_s=0.1,
                    records=records)])


def scenario(video_id: str) -> list[Any]:
    """Everything the aggregator hears about one video that goes all the way."""
    return [VideoMetadata(video_id=video_id, upstream=UPSTREAM),
            VideoAccepted(video_id=video_id, source=REF, media=MEDIA, warnings=["w"]),
            manifest(video_id),
            *(partial(video_id, g, b) for g, (_, n) in PLANS.items() for b in range(n))]


FRAME = SampledFrame(index=0, t=0.0, width=4, height=4, jpeg=InlineBlob(data=b"\xff\xd8jpeg"))
SIGNALS = FrameSignals(start_index=0, times=[0.0], end_t=0.04, thumb_width=2, thumb_height=2,
                       thumbs=InlineBlob(data=b"\x00\x01\x02\x03"))
SEEDS: dict[str, list[Any]] = {
    UPLOADS.name: [{"EventName": "s3:ObjectCreated:Put", "Key": "uploads/a.mp4", "Records": [
        {"eventName": "s3:ObjectCreated:Put", "s3": {"bucket": {"name": "uploads"},
                                                     "object": {"key": "a%20b.mp4",
                                                                "size": 10, "eTag": "\"e\""}}}]}],
    SCRAPED.name: [ScrapedVideo(object=REF, upstream=UPSTREAM)],
    VIDEOS.name: [VideoAccepted(video_id="v1", source=REF, media=MEDIA)],
    FRAMES_HEAVY.name: [FrameBatch(video_id="v1", group=Group.GPU_HEAVY, batch_index=0,
                                   frames=[FRAME])],
    FRAMES_LIGHT.name: [FrameBatch(video_id="v1", group=Group.GPU_LIGHT, batch_index=0,
                                   frames=[FRAME], signals=SIGNALS)],
    AUDIO_CHUNKS.name: [AudioChunk(video_id="v1", batch_index=0, start_s=0.0,
                                   sample_rate=16_000, num_samples=2,
                                   pcm_s16le=InlineBlob(data=b"\x00\x00\x01\x00"))],
    AGGREGATOR_IN.name: [*scenario("v1"), VideoRejected(video_id="v2", source=REF,
                                                         reason="r")],
}


def as_json(seed: Any) -> Any:
    return seed if isinstance(seed, dict) else json.loads(seed.model_dump_json())


# --- strategies -----------------------------------------------------------------------------

NASTY: st.SearchStrategy[Any] = st.sampled_from([
    None, True, 0, -1, 2**63, -(2**80), 1e308, -0.0, math.nan, math.inf, "", "\x00", "\ud800",
    "é" * 300, [], {}, [[[[]]]], {"kind": "x"}, "2026-13-45T25:61:61Z", "v" * 5000])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20)


def mutate(data: st.DataObject, value: Any, depth: int = 0) -> Any:
    """``value`` with one place changed: a value replaced (by arbitrary or nasty JSON), a key
    dropped or added, a list item dropped or repeated. The place is drawn from the root down."""
    children: list[Any] = (list(value) if isinstance(value, dict)
                else list(range(len(value))) if isinstance(value, list) else [])
    descend: bool = bool(children) and data.draw(st.booleans(), label=f"descend at {depth}")
    if descend:
        at = data.draw(st.sampled_from(children))
        copy = dict(value) if isinstance(value, dict) else list(value)
        copy[at] = mutate(data, value[at], depth + 1)
        return copy
    op = data.draw(st.sampled_from(["replace", "nasty", "drop", "add", "repeat"]))
    if op == "drop" and children:
        at = data.draw(st.sampled_from(children))
        copy = dict(value) if isinstance(value, dict) else list(value)
        del copy[at]
        return copy
    if op == "add" and isinstance(value, dict):
        return value | {data.draw(st.text(max_size=12)): data.draw(json_values)}
    if op == "repeat" and isinstance(value, list) and value:
        return [*value, *value]
    return data.draw(NASTY if op == "nasty" else json_values)


def dumps(value: Any) -> bytes:
    # allow_nan: Python writes NaN/Infinity literals, as a sloppy producer might
    return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")


# --- properties -----------------------------------------------------------------------------


def check_decoded(topic: str, body: bytes) -> Any:
    adapter = ADAPTERS[topic]
    decoded = kafka.decode(body, adapter, LIMIT)
    if isinstance(decoded, kafka.Poison):
        assert decoded.kind in get_args(kafka.ErrorKind)
        assert 0 < len(decoded.reason) <= 300, decoded
        return None
    # Encoded as services publish (kafka.encode: the model's own JSON), compared as JSON
    # since NaN is not equal to itself.
    encoded = decoded.model_dump_json(by_alias=True).encode()
    again = kafka.decode(encoded, adapter, LIMIT)
    assert not isinstance(again, kafka.Poison), f"{topic}: re-encoded event refused: {again}"
    assert again.model_dump_json(by_alias=True).encode() == encoded, f"{topic}: {again}"
    if isinstance(decoded, MinioNotification):
        decoded.arrivals()  # what the ingest handler does next
    return decoded


@budget(300)
@given(topic=st.sampled_from(TOPICS), body=st.binary(max_size=512))
def test_any_bytes_decode_or_become_a_dead_letter(topic: str, body: bytes) -> None:
    check_decoded(topic, body)


@budget(300)
@given(topic=st.sampled_from(TOPICS), value=json_values)
def test_any_json_decodes_or_becomes_a_dead_letter(topic: str, value: Any) -> None:
    check_decoded(topic, dumps(value))


@budget(400)
@given(topic=st.sampled_from(TOPICS), data=st.data())
def test_mutated_valid_events_decode_or_become_dead_letters(topic: str,
                                                           data: st.DataObject) -> None:
    seed = as_json(data.draw(st.sampled_from(SEEDS[topic])))
    check_decoded(topic, dumps(mutate(data, seed)))


@pytest.mark.parametrize("topic", TOPICS)
def test_the_seeds_decode_unchanged(topic: str) -> None:
    """The mutations start from valid events (else they would test only rejection)."""
    for seed in SEEDS[topic]:
        assert check_decoded(topic, dumps(as_json(seed))) is not None


AGGREGATOR = ADAPTERS[AGGREGATOR_IN.name]
VIDEO_IDS = ("v1", "v2", "v3")


@st.composite
def aggregator_inputs(draw: st.DrawFn) -> list[Any]:
    """Messages for a few videos as the aggregator's topic might deliver them: any order,
    redelivered, some mutated (only those still decodable reach the join, as in service),
    some videos rejected."""
    messages: list[Any] = []
    for video_id in VIDEO_IDS[: draw(st.integers(1, len(VIDEO_IDS)))]:
        events = [as_json(e) for e in scenario(video_id)]
        events = draw(st.lists(st.sampled_from(events), max_size=12)) or events
        if draw(st.booleans()):
            events.append(as_json(VideoRejected(video_id=video_id, source=REF, reason="gate")))
        messages += events
    data = draw(st.data())
    messages = [mutate(data, m) if draw(st.integers(0, 3)) == 0 else m for m in messages]
    decoded = [kafka.decode(dumps(m), AGGREGATOR, LIMIT) for m in draw(st.permutations(messages))]
    return [e for e in decoded if not isinstance(e, kafka.Poison)]


@budget(150)
@given(events=aggregator_inputs(), deadline_first=st.booleans())
def test_the_report_builder_survives_any_decodable_input(events: list[Any],
                                                         deadline_first: bool) -> None:
    agg = Aggregator(deadline_s=10.0, late_window_s=100.0)
    reports: list[FinalReport] = []
    for i, event in enumerate(events):
        reports += agg.handle(event, now=float(i))
        if deadline_first and i == len(events) // 2:
            reports += agg.expire(now=float(i) + 10.0)
    end = float(len(events)) + 20.0
    reports += agg.expire(now=end)
    reports += agg.expire(now=end + 200.0)

    versions: dict[str, list[int]] = {}
    for report in reports:
        FinalReport.model_validate_json(report.model_dump_json())
        versions.setdefault(report.video_id, []).append(report.report_version)
    for video_id, seen in versions.items():
        assert seen == list(range(1, len(seen) + 1)), f"{video_id}: versions {seen}"
    sourced = {e.video_id for e in events
               if isinstance(e, VideoAccepted | VideoRejected | SamplingManifest)}
    assert sourced <= set(versions), f"no report for {sorted(sourced - set(versions))}"
