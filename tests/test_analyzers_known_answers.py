"""Weight-free analyzers against synthesized input with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from tiktok_analyzer.audio.analyzers.audio_features import AudioFeaturesAnalyzer
from tiktok_analyzer.cli.synth import click_track
from tiktok_analyzer.gpu_light.analyzers.color import ColorAnalyzer
from tiktok_analyzer.gpu_light.analyzers.quality import QualityAnalyzer
from tiktok_analyzer.shared.analyzers import AudioInput, DecodedFrame, FramesInput
from tiktok_analyzer.shared.summaries import summarize


@pytest.fixture(scope="module")
def audio_features() -> AudioFeaturesAnalyzer:
    analyzer = AudioFeaturesAnalyzer()
    analyzer.load(None)  # type: ignore[arg-type]
    return analyzer


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
    shares = {s["hex"]: s["share"] for s in record["palette"]}
    assert shares == {"#0000ff": 0.75, "#ffff00": 0.25}


def test_quality_sees_black_bars_and_flatness() -> None:
    image = np.full((200, 100, 3), 128, dtype=np.uint8)
    image[:20] = 0
    image[-30:] = 0
    (record,) = QualityAnalyzer().process(frames(image))
    assert record["black_bars"]["top"] == pytest.approx(0.10)
    assert record["black_bars"]["bottom"] == pytest.approx(0.15)
    assert record["black_bars"]["left"] == 0.0


def test_quality_sharpness_and_noise_rise_with_detail() -> None:
    rng = np.random.default_rng(0)
    flat = np.full((120, 80, 3), 100, dtype=np.uint8)
    noisy = np.clip(flat + rng.normal(0, 20, flat.shape), 0, 255).astype(np.uint8)
    flat_rec, noisy_rec = QualityAnalyzer().process(frames(flat, noisy))
    assert flat_rec["sharpness"] == 0.0 and flat_rec["noise"] == 0.0
    assert noisy_rec["sharpness"] > 100 and noisy_rec["noise"] > 5


@pytest.mark.parametrize("bpm", [72, 90, 100, 120, 128, 140, 160])
def test_tempo_of_click_tracks(audio_features: AudioFeaturesAnalyzer, bpm: int) -> None:
    rate = 16_000
    y = click_track(20.0, bpm, rate=rate)
    chunk = 10 * rate
    records = [audio_features.process(
        AudioInput("v", i, i * 10.0, rate, y[i * chunk:(i + 1) * chunk]))[0] for i in range(2)]
    tempo = summarize("audio_features", records)["tempo_bpm"]
    assert tempo == pytest.approx(bpm, rel=0.02), f"{bpm} BPM read as {tempo}"


def test_beats_are_in_video_time(audio_features: AudioFeaturesAnalyzer) -> None:
    rate = 16_000
    chunk = AudioInput("v", 3, 30.0, rate, click_track(10.0, 120, rate))
    (record,) = audio_features.process(chunk)
    assert record["t"] == 30.0
    beats = np.array(record["beats"])
    assert len(beats) >= 15
    # Every beat sits on a click of the chunk, counted in seconds from the video start.
    offset_from_grid = np.abs((beats - 30.0) / 0.5 - np.round((beats - 30.0) / 0.5)) * 0.5
    assert offset_from_grid.max() < 0.05
    assert beats.min() >= 30.0 and beats.max() <= 40.0


def test_loudness_of_a_calibrated_tone(audio_features: AudioFeaturesAnalyzer) -> None:
    # BS.1770: a full-scale 1 kHz sine reads -3.01 LUFS; at amplitude 0.1 it reads -23.01.
    rate = 16_000
    t = np.arange(rate * 5) / rate
    tone = (0.1 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    (record,) = audio_features.process(AudioInput("v", 0, 0.0, rate, tone))
    assert record["loudness_lufs"] == pytest.approx(-23.0, abs=0.3)
    assert record["rms_dbfs"] == pytest.approx(-23.01, abs=0.05)


def test_silence_has_no_tempo(audio_features: AudioFeaturesAnalyzer) -> None:
    silence = AudioInput("v", 0, 0.0, 16_000, np.zeros(32_000, np.float32))
    (record,) = audio_features.process(silence)
    assert record["tempo_bpm"] is None and record["loudness_lufs"] is None
