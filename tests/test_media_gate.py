"""The media gate: its own failure modes (the probe child hanging, running out of memory,
references), the outcome of every corpus case, encrypted media, cover pictures, the choice of
the main audio mix, and (optional) the team's real-world files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import av
import pytest
from media_corpus import CASES, CorpusCase, _write_tracks, build_all

from tiktok_analyzer.frame_sampler.stage import sample_video
from tiktok_analyzer.ingest.gate import gate_file
from tiktok_analyzer.ingest.probe import sniff_reference
from tiktok_analyzer.ingest.stage import gate_local_file
from tiktok_analyzer.shared.contracts.events import (
    AudioChunk,
    FrameBatch,
    Group,
    MediaInfo,
    ObjectRef,
    SamplingManifest,
    VideoAccepted,
)
from tiktok_analyzer.shared.errors import MediaRejected
from tiktok_analyzer.shared.infra.blobs import LocalBlobStore, PayloadPacker
from tiktok_analyzer.shared.settings import GateSettings


def test_a_probe_that_outlives_its_timeout_is_a_rejection(red_clip: Path) -> None:
    with pytest.raises(MediaRejected, match="did not finish within"):
        gate_file(red_clip, GateSettings(probe_timeout_s=0.001))


def test_a_probe_that_exhausts_its_memory_limit_is_a_rejection(red_clip: Path) -> None:
    # 64 MiB of address space is not enough to load FFmpeg: the child fails, the parent
    # answers with a reason instead of crashing.
    with pytest.raises(MediaRejected, match="exceeded its memory limit"):
        gate_file(red_clip, GateSettings(probe_memory_bytes=64 * 1024**2))


def test_limits_come_from_settings(red_clip: Path) -> None:
    media, _ = gate_file(red_clip)
    assert (media.width, media.height) == (360, 640)
    with pytest.raises(MediaRejected, match="video codec h264 is not allowed"):
        gate_file(red_clip, GateSettings(video_codecs=["av1"]))
    with pytest.raises(MediaRejected, match="duration 6 s is above the limit of 5 s"):
        gate_file(red_clip, GateSettings(max_duration_s=5))
    with pytest.raises(MediaRejected, match="container mov,mp4"):
        gate_file(red_clip, GateSettings(containers=["matroska"]))


@pytest.mark.parametrize("head", [b"#EXTM3U\n#EXTINF:1,\nhttp://x/a.ts", b"\xef\xbb\xbf#EXTM3U",
                                  b"ffconcat version 1.0\nfile 'a.mp4'", b"file 'a.mp4'\n",
                                  b"<?xml version='1.0'?><MPD>", b"v=0\r\no=- 0 0 IN IP4 1.2.3.4"])
def test_reference_formats_are_recognised_from_their_first_bytes(head: bytes) -> None:
    assert sniff_reference(head) is not None


def test_ordinary_media_is_not_taken_for_a_reference(red_clip: Path) -> None:
    assert sniff_reference(red_clip.read_bytes()[:4096]) is None


# --- the gate on every corpus case, and on what users actually send -----------------------

# Warnings only the sampler can give (it decodes the whole file); the gate just accepts.
SAMPLER_WARNINGS = ("truncated",)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_all(tmp_path_factory.mktemp("corpus"))


def _outcome(path: Path) -> tuple[str, str, MediaInfo | None]:
    try:
        media, warnings = gate_file(path)
    except MediaRejected as exc:
        return "rejected", str(exc), None
    return "complete", " | ".join(warnings), media


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_corpus_case_gets_its_outcome_from_the_gate(
        case: CorpusCase, corpus: dict[str, Path]) -> None:
    outcome, text, _ = _outcome(corpus[case.name])
    assert outcome == case.expect, f"{case.name}: {outcome}: {text}"
    if case.reason_contains:
        assert case.reason_contains in text.lower(), text
    if case.warning_contains and case.warning_contains not in SAMPLER_WARNINGS:
        assert case.warning_contains in text.lower(), text


@pytest.mark.parametrize("name", ["encrypted_mp4", "encrypted_webm", "scrambled_ts"])
def test_encrypted_media_is_rejected_naming_the_protection(
        name: str, corpus: dict[str, Path]) -> None:
    outcome, reason, _ = _outcome(corpus[name])
    assert outcome == "rejected"
    assert reason.startswith("encrypted media (")
    detail = {"encrypted_mp4": ("encv", "enca", "scheme cbcs", "DRM Widevine"),
              "encrypted_webm": ("ContentEncryption",),
              "scrambled_ts": ("scrambled packets",)}[name]
    assert all(d in reason for d in detail), reason


def test_a_cover_picture_is_metadata_and_the_mp3_is_audio(corpus: dict[str, Path]) -> None:
    outcome, warnings, media = _outcome(corpus["mp3_cover"])
    assert outcome == "complete" and media is not None, warnings
    assert media.video_codec is None and media.width is None
    assert media.audio_codec == "mp3" and media.audio_stream_index == 0
    assert media.video_stream_index is None
    assert [(s.kind, s.codec) for s in media.streams] == [("audio", "mp3"), ("other", "mjpeg")]
    assert "no video stream" in warnings


def test_the_default_audio_track_is_the_main_mix(corpus: dict[str, Path]) -> None:
    # Track 0 has the most channels, track 1 is the default: the default wins.
    _, warnings, media = _outcome(corpus["dubbed_tracks"])
    assert media is not None and media.audio_stream_index == 1, warnings
    assert media.audio_codec == "aac"


def test_without_a_default_the_track_with_most_channels_is_chosen(tmp_path: Path) -> None:
    path = tmp_path / "no-default.mkv"
    _write_tracks(path, "aac", layouts=("mono", "stereo", "5.1", "stereo"), default=-1,
                  fmt="matroska", options={"default_mode": "passthrough"})
    _, warnings, media = _outcome(path)
    assert media is not None and media.audio_stream_index == 2, warnings
    assert "4 audio streams: stream 2 (6 channels)" in warnings


def test_a_disallowed_audio_codec_is_passed_over_for_an_allowed_one(tmp_path: Path) -> None:
    path = tmp_path / "two-codecs.mkv"
    _write_tracks(path, "aac", layouts=("stereo",), fmt="matroska")
    with pytest.raises(MediaRejected, match="audio codec aac is not allowed"):
        gate_file(path, GateSettings(audio_codecs=["opus"]))
    mixed = tmp_path / "mixed.mkv"
    with av.open(str(mixed), "w") as out:
        for codec in ("ac3", "aac"):
            track: Any = out.add_stream(codec, rate=48_000)
            track.layout = "stereo"
        for track in out.streams.audio:
            for i in range(20):
                frame = av.AudioFrame(format="fltp", layout="stereo", samples=1536)
                for plane in frame.planes:
                    plane.update(bytes(plane.buffer_size))
                frame.sample_rate, frame.pts = 48_000, i * 1536
                out.mux(track.encode(frame))
            out.mux(track.encode(None))
    media, _ = gate_file(mixed, GateSettings(audio_codecs=["aac"]))
    assert media.audio_stream_index == 1 and media.audio_codec == "aac"


def test_the_sampler_decodes_the_streams_the_gate_chose(corpus: dict[str, Path],
                                                        tmp_path: Path) -> None:
    """The mp3's cover is not sampled as video (no frame batches, gpu groups skipped for want
    of video) and its audio is chunked; the dubbed file's chunks come from its default
    (stereo) track, not its first (5.1) one."""
    store = LocalBlobStore(tmp_path / "blobs")
    packer = PayloadPacker(store, "work")
    path = corpus["mp3_cover"]
    accepted = gate_local_file(path, ObjectRef(bucket="uploads", key=path.name))
    assert isinstance(accepted, VideoAccepted), accepted
    events = list(sample_video(path, accepted, packer))
    manifest = events[-1]
    assert isinstance(manifest, SamplingManifest)
    assert not [e for e in events if isinstance(e, FrameBatch)]
    assert [e for e in events if isinstance(e, AudioChunk)]
    assert manifest.groups[Group.GPU_HEAVY].skip_reason == "no video stream"
    assert manifest.groups[Group.AUDIO].skip_reason is None

    # Old events carry no stream indices: the sampler still skips the cover by itself.
    old = accepted.model_copy(update={"media": accepted.media.model_copy(
        update={"audio_stream_index": None, "video_stream_index": None})})
    assert not [e for e in sample_video(path, old, packer) if isinstance(e, FrameBatch)]


def test_old_accepted_events_without_stream_indices_still_parse(red_clip: Path) -> None:
    media, _ = gate_file(red_clip)
    raw = json.loads(media.model_dump_json())
    del raw["video_stream_index"], raw["audio_stream_index"]
    old = MediaInfo.model_validate(raw)
    assert old.video_stream_index is None and old.audio_stream_index is None
    assert media.video_stream_index == 0 and media.audio_stream_index == 1


# --- the team's real-world files (optional) ----------------------------------------------

TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"
_PROBE_LINE = re.compile(r"^### `([^`]+)`$|^- \*\*Probe \(PyAV\):\*\* (.*)$")


def _manifest() -> dict[str, str]:
    """File name -> its MANIFEST 'Probe (PyAV)' line."""
    listed: dict[str, str] = {}
    if not (TESTDATA / "MANIFEST.md").is_file():
        return listed
    name = None
    for line in (TESTDATA / "MANIFEST.md").read_text().splitlines():
        match = _PROBE_LINE.match(line)
        if match and match[1]:
            name = match[1]
        elif match and name:
            listed[name] = match[2]
    return listed


# Rejections expected among the listed files; every other listed file is accepted.
REAL_REJECTIONS = {"edge_mp4ff_init_truncated.mp4": "not a recognised media file",
                   "edge_moviepy_test_video.mp4": "below the minimum"}


@pytest.mark.shared_testdata
@pytest.mark.skipif(not TESTDATA.is_dir(),
                    reason=f"optional: {TESTDATA} is absent (it is not part of a clone)")
@pytest.mark.parametrize("name", sorted(_manifest()) or ["(no MANIFEST)"])
def test_the_gate_agrees_with_the_manifest_on_real_files(name: str) -> None:
    """Each file the MANIFEST lists gets the outcome above, and an accepted one's chosen
    streams are the codecs the MANIFEST's own probe line names."""
    probe = _manifest()[name]
    outcome, text, media = _outcome(TESTDATA / name)
    if name in REAL_REJECTIONS:
        assert outcome == "rejected" and REAL_REJECTIONS[name] in text, text
        return
    assert outcome == "complete" and media is not None, text
    video = re.search(r"\bV:(\w+)", probe)
    audio = re.search(r"\bA:(\w+)", probe)
    assert media.video_codec == (video[1] if video else None), probe
    # The MANIFEST names decoders (mp3float); the gate names formats (mp3).
    assert (media.audio_codec or "") == (audio[1].removesuffix("float") if audio else ""), probe
    if media.audio_stream_index is not None:
        assert media.streams[media.audio_stream_index].kind == "audio"
    if "2x A:" in probe:
        assert "2 audio streams: stream 0" in text, text
