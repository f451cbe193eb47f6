"""The gate's own failure modes: the probe child hanging, running out of memory, references."""

from __future__ import annotations

from pathlib import Path

import pytest

from tiktok_analyzer.ingest.gate import gate_file
from tiktok_analyzer.ingest.probe import sniff_reference
from tiktok_analyzer.shared.errors import MediaRejected
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
