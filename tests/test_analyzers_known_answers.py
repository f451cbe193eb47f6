"""Weight-free analyzers against synthesized input with known answers. The audio analyzers'
tests are in ``test_audio_known_answers.py``."""

from __future__ import annotations

import numpy as np
import pytest
from plugin_helpers import summarize

from tiktok_analyzer.gpu_light.analyzers.color import ColorAnalyzer
from tiktok_analyzer.gpu_light.analyzers.quality import QualityAnalyzer
from tiktok_analyzer.shared.runtime.analyzers import DecodedFrame, FramesInput, VideoFacts


def frames(*images: np.ndarray) -> FramesInput:
    return FramesInput("v", 0, [DecodedFrame(i, i * 0.5, img) for i, img in enumerate(images)])


@pytest.mark.parametrize("rgb", [(220, 30, 30), (20, 200, 60), (30, 40, 210), (250, 250, 250)],
                         ids=["red", "green", "blue", "white"])
def test_dominant_color_of_a_solid_frame(rgb: tuple[int, int, int]) -> None:
    image = np.full((64, 36, 3), rgb, dtype=np.uint8)
    records = ColorAnalyzer().process(frames(image, image))
    summary = summarize("color", records)
    top = summary["dominant_colors"][0]
    assert top["share"] == pytest.approx(1.0)
    assert top["rgb"] == list(rgb)


def test_palette_shares_follow_the_area() -> None:
    image = np.zeros((100, 100, 3), dtype=np.uint8)
    image[:, :75] = (0, 0, 255)
    image[:, 75:] = (255, 255, 0)
    (record,) = ColorAnalyzer().process(frames(image))
    shares = {s.hex: s.share for s in record.palette}
    assert shares == {"#0000ff": 0.75, "#ffff00": 0.25}


def test_quality_sees_black_bars_and_flatness() -> None:
    image = np.full((200, 100, 3), 128, dtype=np.uint8)
    image[:20] = 0
    image[-30:] = 0
    (record,) = QualityAnalyzer().process(frames(image))
    assert record.black_bars.top == pytest.approx(0.10)
    assert record.black_bars.bottom == pytest.approx(0.15)
    assert record.black_bars.left == 0.0


def test_quality_sharpness_and_noise_rise_with_detail() -> None:
    rng = np.random.default_rng(0)
    flat = np.full((120, 80, 3), 100, dtype=np.uint8)
    noisy = np.clip(flat + rng.normal(0, 20, flat.shape), 0, 255).astype(np.uint8)
    flat_rec, noisy_rec = QualityAnalyzer().process(frames(flat, noisy))
    assert flat_rec.sharpness == 0.0 and flat_rec.noise == 0.0
    assert noisy_rec.sharpness > 100 and noisy_rec.noise > 5


def test_color_summary_per_shot() -> None:
    red = np.full((64, 36, 3), (220, 30, 30), dtype=np.uint8)
    blue = np.full((64, 36, 3), (30, 40, 210), dtype=np.uint8)
    analyzer = ColorAnalyzer()
    records = analyzer.process(frames(red, red, red, blue, blue))  # t = 0, 0.5, ... 2.0
    summary = analyzer.summarize_with(records, VideoFacts(2.5, (0.0, 1.5), 36, 64))
    first, second = summary.shots
    assert (first.start_s, first.end_s, first.frames) == (0.0, 1.5, 3)
    assert (second.start_s, second.end_s, second.frames) == (1.5, 2.5, 2)
    assert first.dominant_colors[0].rgb == (220, 30, 30)
    assert second.dominant_colors[0].rgb == (30, 40, 210)
    assert first.warmth is not None and second.warmth is not None
    assert first.warmth > 0 > second.warmth
    assert summary.dominant_colors[0].share == pytest.approx(0.6)  # the whole video's
    assert analyzer.summarize(records).shots == []  # shots unknown without the video's facts
