"""``camera_motion`` on clips made here with a known camera: each move on a textured scene, a
handheld jitter, and a person-sized object moving in front of a still camera (which must read
static). Through the real sampler, as gpu_light runs it; magnitudes against the synthetic
camera's own rates."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from video_synth import (
    FPS,
    HEIGHT,
    WIDTH,
    View,
    blend,
    blob_over,
    camera,
    encode,
    run_light,
    shoot,
    still,
    texture,
)

from tiktok_analyzer.gpu_light.analyzers.camera_motion import (
    CameraMotionRecord,
    CameraMotionSummary,
)

SCENE = texture(11)
H, W = SCENE.shape[:2]
FRAMES = 45  # 1.5 s: three windows of 0.5 s


def move(step: Callable[[View], View], start: View | None = None) -> list[np.ndarray]:
    return camera(SCENE, FRAMES, start or View(W / 2, H / 2), lambda _i, v: step(v))


def shaky() -> list[np.ndarray]:
    jitter = np.random.default_rng(3).normal(0, 3, (FRAMES, 2))
    return [shoot(SCENE, View(W / 2 + dx, H / 2 + dy)) for dx, dy in jitter]


def flash() -> list[np.ndarray]:
    """A still shot with a camera flash: two frames washed towards white."""
    frames = still(SCENE, FRAMES, drift=0)
    white = np.full_like(frames[0], 255)
    frames[20], frames[21] = blend(frames[20], white, 0.85), blend(frames[21], white, 0.5)
    return frames


def person() -> list[np.ndarray]:
    # A textured ellipse 110 x 176 pixels on the 180 x 320 picture (a quarter of it, a
    # half-body shot), moving 3 pixels a frame across it and bobbing.
    background = still(texture(12), 1, drift=0)[0]
    return blob_over(background, FRAMES, 55,
                     lambda i: (30 + 3 * i, 150 + 20 * np.sin(i / 6)))


# (clip, expected label, field, expected value per second or None)
CASES: dict[str, tuple[Callable[[], list[np.ndarray]], str, str | None, float | None]] = {
    "static": (lambda: still(SCENE, FRAMES, drift=0), "static", None, None),
    "pan_right": (lambda: move(lambda v: View(v.x + 4, v.y)), "pan_right", "pan",
                  4 * FPS / WIDTH),
    "pan_left": (lambda: move(lambda v: View(v.x - 4, v.y)), "pan_left", "pan",
                 -4 * FPS / WIDTH),
    "tilt_up": (lambda: move(lambda v: View(v.x, v.y - 4)), "tilt_up", "tilt",
                4 * FPS / HEIGHT),
    "tilt_down": (lambda: move(lambda v: View(v.x, v.y + 4)), "tilt_down", "tilt",
                  -4 * FPS / HEIGHT),
    "zoom_in": (lambda: move(lambda v: View(v.x, v.y, v.zoom * 1.012)), "zoom_in", "zoom",
                FPS * float(np.log(1.012))),
    "zoom_out": (lambda: move(lambda v: View(v.x, v.y, v.zoom / 1.012), View(W / 2, H / 2, 1.8)),
                 "zoom_out", "zoom", -FPS * float(np.log(1.012))),
    "rotation": (lambda: move(lambda v: View(v.x, v.y, v.zoom, v.roll_deg + 1.0),
                              View(W / 2, H / 2, 1.3)), "rotation", "roll_deg_s", 1.0 * FPS),
    "shaky": (shaky, "shaky", None, None),
    "still_with_a_flash": (flash, "static", None, None),
    "person_in_front_of_a_still_camera": (person, "static", None, None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_camera_moves_are_told_apart(tmp_path: Path, case: str) -> None:
    make, label, field, rate = CASES[case]
    clip = encode(tmp_path / f"{case}.mp4", make())
    run = run_light(clip, ["camera_motion"], tmp_path / "blobs")
    records = [r for r in run.records["camera_motion"] if isinstance(r, CameraMotionRecord)]
    summary = run.summaries["camera_motion"]
    assert isinstance(summary, CameraMotionSummary)
    assert [b for r in records for b in (r.t, r.end_t)] == pytest.approx(
        [0.0, 0.5, 0.5, 1.0, 1.0, 1.5], abs=1e-3)
    assert [r.label for r in records] == [label] * 3, [r.model_dump() for r in records]
    assert summary.dominant == label
    assert [s.label for s in summary.segments] == [label]
    if field is not None:
        assert rate is not None
        assert getattr(summary.segments[0], field) == pytest.approx(rate, rel=0.12)
    if label in ("static", "shaky"):
        assert summary.moving_share == 0
    assert (summary.shaky_share == 1) is (label == "shaky")


def test_segments_end_at_shot_changes(tmp_path: Path) -> None:
    other = texture(13)
    frames = move(lambda v: View(v.x + 4, v.y)) + still(other, 30, drift=0)
    run = run_light(encode(tmp_path / "two.mp4", frames), ["camera_motion"], tmp_path / "blobs")
    summary = run.summaries["camera_motion"]
    assert isinstance(summary, CameraMotionSummary)
    assert [(s.label, s.t) for s in summary.segments] == [
        ("pan_right", 0.0), ("static", pytest.approx(FRAMES / FPS, abs=1e-3))]
