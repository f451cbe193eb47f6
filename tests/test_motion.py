"""``motion`` on clips made here: a uniform brightness ramp of a known number of luma levels a
frame reads exactly that change, at 30 and at 60 fps alike; a hard cut is no motion; more
movement reads more. Through the real sampler, as gpu_light runs it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from video_synth import HEIGHT, WIDTH, View, camera, encode, run_light, still, texture

from tiktok_analyzer.gpu_light.analyzers.motion import MotionRecord, MotionSummary

# Grey RGB level v is stored as luma 16 + 219 v / 255 (BT.601, limited range).
LUMA_PER_RGB = 219 / 255


def motion_of(tmp_path: Path, frames: list[np.ndarray], fps: int = 30
              ) -> tuple[list[MotionRecord], MotionSummary]:
    clip = encode(tmp_path / "clip.mp4", frames, fps=fps)
    run = run_light(clip, ["motion"], tmp_path / "blobs")
    records = [r for r in run.records["motion"] if isinstance(r, MotionRecord)]
    summary = run.summaries["motion"]
    assert isinstance(summary, MotionSummary)
    return records, summary


def grey(level: float) -> np.ndarray:
    return np.full((HEIGHT, WIDTH, 3), round(level), dtype=np.uint8)


@pytest.mark.parametrize("fps", [30, 60])
def test_a_uniform_ramp_reads_its_luma_change(tmp_path: Path, fps: int) -> None:
    # 4 RGB levels per 1/30 s: 3.44 luma levels, at either frame rate.
    step = 4 * 30 / fps
    frames = [grey(10 + step * i) for i in range(2 * fps)]
    records, summary = motion_of(tmp_path, frames, fps)
    assert [r.t for r in records] == [0.0, 1.0]
    expected = 4 * LUMA_PER_RGB / 255
    for record in records:
        assert record.intensity == pytest.approx(expected, rel=0.08)
    assert records[0].frames == fps - 1 and records[1].frames == fps
    assert summary.mean_intensity == pytest.approx(expected, rel=0.08)


def test_a_cut_is_no_motion(tmp_path: Path) -> None:
    # Two still pictures, cut at 1 s: a 100-level jump that is not motion.
    frames = [grey(60)] * 30 + [grey(160)] * 30
    records, _ = motion_of(tmp_path, frames)
    assert [r.t for r in records] == [0.0, 1.0]
    assert max(r.intensity for r in records) < 0.002


def test_more_movement_reads_more(tmp_path: Path) -> None:
    scene = texture(7)
    h = scene.shape[0]
    frames = (still(scene, 30, drift=0)
              + camera(scene, 30, View(300, h / 2), lambda _i, v: View(v.x + 1, v.y))
              + camera(scene, 30, View(300, h / 2), lambda _i, v: View(v.x + 6, v.y)))
    records, summary = motion_of(tmp_path, frames)
    values = [r.intensity for r in records]
    assert len(values) == 3
    assert values[0] < 0.003 < values[1] < values[2]
    assert summary.peak_t == 2.0 and summary.peak_intensity == values[2]
