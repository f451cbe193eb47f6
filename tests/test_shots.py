"""``shots`` on clips made here with known shots: hard cuts on their frame, fades to and from
black, a dissolve, and what must not count (a camera flash, fast motion, a slow pan). Each clip
goes through the real sampler and the analyzer as gpu_light runs it; the manifest's shot starts,
the heavy keyframes and the analyzer's shots must be one list."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from video_synth import (
    FPS,
    View,
    blend,
    blob_over,
    camera,
    dissolve,
    encode,
    fade,
    run_light,
    still,
    texture,
)

from tiktok_analyzer.gpu_light.analyzers.shots import ShotRecord, ShotsSummary
from tiktok_analyzer.shared.contracts.events import Group

A, B, C, D = (texture(seed) for seed in (1, 2, 3, 4))


def shots_of(tmp_path: Path, frames: list[np.ndarray]) -> tuple[list[ShotRecord], ShotsSummary,
                                                                 list[float]]:
    clip = encode(tmp_path / "clip.mp4", frames)
    run = run_light(clip, ["shots"], tmp_path / "blobs")
    records = [r for r in run.records["shots"] if isinstance(r, ShotRecord)]
    summary = run.summaries["shots"]
    assert isinstance(summary, ShotsSummary)
    # One list: the manifest's shot starts are the analyzer's, shots tile the video.
    assert run.manifest.shot_starts_s == summary.shot_starts_s == [r.t for r in records]
    assert [r.start_frame for r in records[1:]] == [r.end_frame for r in records[:-1]]
    assert records[0].start_frame == 0 and records[-1].end_frame == len(frames)
    # Every hard cut's first frame went to gpu_heavy as a shot-start keyframe.
    keyframes = {f.index for b in run.batches if b.group is Group.GPU_HEAVY for f in b.frames
                 if f.reason == "shot_start"}
    assert {r.start_frame for r in records if r.opening in ("start", "cut")} <= keyframes
    return records, summary, run.manifest.shot_starts_s


def test_hard_cuts_land_on_their_frame(tmp_path: Path) -> None:
    frames = still(A, 20) + still(B, 27) + still(C, 43) + still(D, 30)
    records, summary, _ = shots_of(tmp_path, frames)
    assert [r.start_frame for r in records] == [0, 20, 47, 90]
    assert [r.opening for r in records] == ["start", "cut", "cut", "cut"]
    assert [r.t for r in records] == pytest.approx([0, 20 / FPS, 47 / FPS, 90 / FPS], abs=1e-3)
    assert summary.shots == 4
    assert summary.transitions == {"cut": 3}
    assert summary.cuts_per_minute == pytest.approx(3 / (120 / FPS) * 60, rel=0.01)
    assert summary.longest_shot_s == pytest.approx(43 / FPS, abs=1e-3)
    assert summary.shortest_shot_s == pytest.approx(20 / FPS, abs=1e-3)


def test_quick_cuts_count_each(tmp_path: Path) -> None:
    # A montage: six shots of 8 frames (0.27 s each), as beat-cut edits do.
    frames = [f for i in range(6) for f in still((A, B, C, D)[i % 4], 8)]
    records, _, _ = shots_of(tmp_path, frames)
    assert [r.start_frame for r in records] == [0, 8, 16, 24, 32, 40]


def test_fade_out_and_in_through_black_is_one_shot_change(tmp_path: Path) -> None:
    black = np.zeros_like(still(A, 1)[0])
    # A: 30 frames then a 15-frame fade to black (frames 30-44, 44 black); 10 black frames;
    # B fades in over 15 frames from black (frames 55-69, 55 black).
    a, b = still(A, 45), still(B, 45)
    frames = a[:30] + fade(a[30:], to_black=True) + [black] * 10 + fade(b[:15], False) + b[15:]
    records, summary, _ = shots_of(tmp_path, frames)
    # The new shot starts with its fade-in, on the last black frame.
    assert [(r.start_frame, r.opening) for r in records] == [(0, "start"), (55, "fade")]
    first, second = records
    assert first.fade_out is not None and second.fade_in is not None
    assert first.fade_out.t == pytest.approx(30 / FPS, abs=1.01 / FPS)
    assert first.fade_out.end_t == pytest.approx(44 / FPS, abs=1.01 / FPS)
    assert second.fade_in.t == pytest.approx(55 / FPS, abs=1e-3)
    assert second.fade_in.end_t == pytest.approx(69 / FPS, abs=1.01 / FPS)
    assert second.transition.t == pytest.approx(first.fade_out.t, abs=1e-3)
    assert summary.transitions == {"fade": 1}


def test_fades_from_and_to_black_at_the_ends_change_no_shot(tmp_path: Path) -> None:
    a = still(A, 70)
    frames = fade(a[:20], to_black=False) + a[20:50] + fade(a[50:], to_black=True)
    records, summary, _ = shots_of(tmp_path, frames)
    assert len(records) == 1
    (shot,) = records
    assert shot.fade_in is not None and shot.fade_out is not None
    assert shot.fade_in.end_t == pytest.approx(19 / FPS, abs=1.01 / FPS)
    assert shot.fade_out.t == pytest.approx(50 / FPS, abs=1.01 / FPS)
    assert summary.transitions == {"fade_in": 1, "fade_out": 1}


def test_a_cut_to_black_then_a_fade_in_is_one_shot_change(tmp_path: Path) -> None:
    black = np.zeros_like(still(A, 1)[0])
    b = still(B, 35)
    frames = still(A, 30) + [black] * 20 + fade(b[:15], to_black=False) + b[15:]
    records, _, _ = shots_of(tmp_path, frames)
    assert [(r.start_frame, r.opening) for r in records] == [(0, "start"), (30, "cut")]
    assert records[1].fade_in is not None
    assert records[1].fade_in.t == pytest.approx(50 / FPS, abs=1.01 / FPS)


def test_a_dissolve_changes_shot_half_way(tmp_path: Path) -> None:
    # A for 40 frames, then 20 frames mixing A into B (frame 40 + i is i/19 of B), then B.
    a, b = still(A, 60), still(B, 60)
    frames = a[:40] + dissolve(a[40:], b[:20]) + b[20:]
    records, summary, _ = shots_of(tmp_path, frames)
    assert [r.opening for r in records] == ["start", "dissolve"]
    assert records[1].start_frame in (49, 50, 51)  # the mix passes one half at 49.5
    assert records[1].transition.t == pytest.approx(40 / FPS, abs=2.01 / FPS)
    assert records[1].transition.end_t == pytest.approx(59 / FPS, abs=2.01 / FPS)
    assert summary.transitions == {"dissolve": 1}


def test_a_camera_flash_is_no_cut(tmp_path: Path) -> None:
    frames = still(A, 60)
    white = np.full_like(frames[0], 255)
    frames[30] = blend(frames[30], white, 0.85)  # a two-frame flash, fading
    frames[31] = blend(frames[31], white, 0.5)
    frames[45] = white  # a single frame flash at full white
    records, _, _ = shots_of(tmp_path, frames)
    assert len(records) == 1


def test_fast_motion_inside_a_shot_is_no_cut(tmp_path: Path) -> None:
    h = A.shape[0]
    # A whip pan: 14 pixels a frame on a 180-pixel-wide picture, with a shake.
    whip = camera(A, 45, View(120, h / 2),
                  lambda i, v: View(v.x + 14, v.y + (6 if i % 2 else -6)))
    # A big object crossing the frame fast (20 pixels a frame) in front of a still background.
    # Both score like cuts on some frames (up to 32 against the threshold of 30).
    crossing = blob_over(still(B, 1, drift=0)[0], 16, 70, lambda i: (-40 + 20 * i, 160))
    records, _, _ = shots_of(tmp_path, whip + crossing)
    assert [r.start_frame for r in records] == [0, 45]  # the one real cut only


def test_a_slow_pan_is_no_transition(tmp_path: Path) -> None:
    h = A.shape[0]
    pan = camera(A, 120, View(250, h / 2), lambda _i, v: View(v.x + 1.5, v.y))
    records, _, _ = shots_of(tmp_path, pan)
    assert len(records) == 1 and records[0].opening == "start"
