"""Optional: the media gate on the team's real-world files in ``../shared/testdata``.

That folder sits beside the project on the team's machines and is not part of a clone, so this
test skips (saying so) where it is absent. The outcomes are listed in docs/ingest.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tiktok_analyzer.ingest.gate import gate_file
from tiktok_analyzer.shared.errors import MediaRejected

TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"

# File -> ("accepted", a warning it must carry or None) | ("rejected", part of the reason)
EXPECTED: dict[str, tuple[str, str | None]] = {
    "edge_mb_rotate-buck-bunny.mp4": ("accepted", "rotation"),
    "edge_mb_cursed-vfr.mp4": ("accepted", "variable frame rate"),
    "edge_mb_transparency.webm": ("accepted", "alpha"),
    "edge_mb_multiple-aac-tracks.mp4": ("accepted", "no video stream"),
    "edge_mb_hevc.ts": ("accepted", "starts at"),
    "edge_mb_video-h265.mp4": ("accepted", None),
    "edge_mb_frames.webm": ("accepted", "no audio stream"),
    "edge_moviepy_no_duration.webm": ("accepted", "duration not declared"),
    "psd_delayed_start.mp4": ("accepted", "starts at"),
    "psd_issue-195-aspect-ratio.mp4": ("accepted", "pixel aspect 16:11"),
    "psd_issue-236-split-copy.mkv": ("accepted", None),
    "speech_jfk.flac": ("accepted", "no video stream"),
    "edge_mp4ff_init_truncated.mp4": ("rejected", "not a recognised media file"),
    "edge_moviepy_test_video.mp4": ("rejected", "below the minimum"),
}


def media_files() -> list[Path]:
    if not TESTDATA.is_dir():
        return []
    return sorted(p for p in TESTDATA.iterdir() if p.is_file() and p.suffix != ".md")


@pytest.mark.skipif(not TESTDATA.is_dir(),
                    reason=f"optional: {TESTDATA} is absent (it is not part of a clone)")
@pytest.mark.parametrize("path", media_files(), ids=lambda p: p.name)
def test_every_real_world_file_gets_one_clear_outcome(path: Path) -> None:
    try:
        media, warnings = gate_file(path)
        outcome, text = "accepted", " | ".join(warnings)
    except MediaRejected as exc:
        outcome, text = "rejected", str(exc)
    assert text or outcome == "accepted"
    if path.name in EXPECTED:
        want, fragment = EXPECTED[path.name]
        assert outcome == want, f"{path.name}: {outcome}: {text}"
        assert fragment is None or fragment in text, f"{path.name}: {text}"
    if outcome == "accepted":
        assert media.video_codec or media.audio_codec
