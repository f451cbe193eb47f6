"""``quality``'s measures on synthesized frames, each defect made at a known strength: effective
resolution (a 540p picture upscaled into 1080x1920), blockiness (JPEG at low quality), noise
(Gaussian of known sigma), interlacing (two fields of a moving scene), letterboxing (a
landscape picture between black, white or blurred bars), and the summaries per video and per
shot. Frames go through JPEG at quality 85 where the sampler would put them through it."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tiktok_analyzer.gpu_light.analyzers import _picture as measures
from tiktok_analyzer.gpu_light.analyzers.quality import QualityAnalyzer
from tiktok_analyzer.shared.runtime.analyzers import DecodedFrame, FramesInput, VideoFacts
from tiktok_analyzer.shared.runtime.plugins import frame_policies

HEIGHT, WIDTH = 1920, 1080


def texture(height: int, width: int, seed: int = 1) -> np.ndarray:
    """Grey detail with a natural image's 1/f amplitude spectrum, mean 128, sd 40."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    radius = np.hypot(fx, fy)
    radius[0, 0] = 1.0
    image = np.fft.irfft2(np.fft.rfft2(rng.normal(size=(height, width))) / radius,
                          s=(height, width))
    image = (image - image.mean()) / image.std() * 40 + 128
    return np.clip(image, 0, 255).astype(np.uint8)


def jpeg(gray: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())))


def resize(gray: np.ndarray, width: int, height: int,
           method: Image.Resampling = Image.Resampling.BICUBIC) -> np.ndarray:
    return np.asarray(Image.fromarray(gray).resize((width, height), method))


def rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=2)


def luma(gray: np.ndarray) -> np.ndarray:
    return gray.astype(np.float32)


# --- effective resolution -------------------------------------------------------------------


def test_a_sharp_frame_needs_its_whole_size() -> None:
    assert measures.effective_resolution(luma(jpeg(texture(HEIGHT, WIDTH), 85))) == WIDTH


@pytest.mark.parametrize("method", [Image.Resampling.BILINEAR, Image.Resampling.BICUBIC,
                                    Image.Resampling.LANCZOS], ids=["bilinear", "bicubic",
                                                                    "lanczos"])
@pytest.mark.parametrize("source", [360, 540, 720])
def test_an_upscaled_picture_is_found_at_its_source_resolution(
        source: int, method: Image.Resampling) -> None:
    small = texture(source * 16 // 9, source, seed=3)
    frame = jpeg(resize(small, WIDTH, HEIGHT, method), 85)
    found = measures.effective_resolution(luma(frame))
    assert found is not None
    assert 0.85 * source <= found <= 1.15 * source, found


def test_a_flat_frame_has_no_effective_resolution() -> None:
    assert measures.effective_resolution(np.full((640, 360), 90, np.float32)) is None


# --- blockiness -----------------------------------------------------------------------------


@pytest.mark.parametrize(("quality", "low", "high"), [
    (10, 3.0, None), (25, 1.8, None), (40, 1.6, None), (95, None, 1.45)])
def test_blockiness_rises_as_jpeg_quality_falls(quality: int, low: float | None,
                                                high: float | None) -> None:
    smooth = resize(texture(HEIGHT // 4, WIDTH // 4), WIDTH, HEIGHT)  # soft, like most video
    value = measures.blockiness(luma(jpeg(jpeg(smooth, quality), 85)))
    assert low is None or value >= low, value
    assert high is None or value < high, value


def test_an_uncompressed_frame_has_no_blocks() -> None:
    assert measures.blockiness(luma(texture(HEIGHT, WIDTH))) == pytest.approx(1.0, abs=0.02)


# --- noise ----------------------------------------------------------------------------------


def scenes() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    blocks = np.kron(rng.integers(40, 200, (12, 7)), np.ones((80, 80)))[:960, :540]
    ramp = np.tile(np.linspace(60, 190, 540), (960, 1))
    return {"flat": np.full((960, 540), 128.0), "blocks": blocks.astype(float), "ramp": ramp}


@pytest.mark.parametrize("scene", ["flat", "blocks", "ramp"])
@pytest.mark.parametrize("sigma", [0.0, 3.0, 8.0, 15.0])
def test_noise_sigma_is_the_noise_added(scene: str, sigma: float) -> None:
    rng = np.random.default_rng(1)
    base = scenes()[scene]
    noisy = np.clip(base + rng.normal(0, sigma, base.shape), 0, 255).round()
    assert measures.noise_sigma(noisy.astype(np.float32)) == pytest.approx(sigma, abs=0.05 * sigma
                                                                           + 0.05)


# --- interlacing ----------------------------------------------------------------------------


def moving_scene() -> tuple[np.ndarray, np.ndarray]:
    """Shapes on a background, and the same with odd rows from 8 px later in the motion."""
    rng = np.random.default_rng(2)
    scene = np.full((960, 540), 60.0)
    for _ in range(30):
        y, x = rng.integers(0, 800), rng.integers(0, 400)
        scene[y:y + 120, x:x + 120] = rng.integers(100, 250)
    interlaced = scene.copy()
    interlaced[1::2] = np.roll(scene, 8, axis=1)[1::2]
    return scene, interlaced


def test_combing_of_two_fields_in_motion() -> None:
    progressive, interlaced = moving_scene()
    assert measures.combing(luma(jpeg(interlaced.astype(np.uint8), 85))) >= 0.02
    assert measures.combing(luma(jpeg(progressive.astype(np.uint8), 85))) < 0.002


def test_noise_and_texture_are_not_combing() -> None:
    progressive, _ = moving_scene()
    noisy = progressive + np.random.default_rng(3).normal(0, 10, progressive.shape)
    assert measures.combing(noisy.astype(np.float32)) < 0.005
    assert measures.combing(luma(texture(960, 540))) < 0.002


def test_combing_is_averaged_away_in_a_downscaled_frame() -> None:
    _, interlaced = moving_scene()
    half = resize(interlaced.astype(np.uint8), 270, 480, Image.Resampling.BOX)
    assert measures.combing(luma(half)) < 0.002


# --- letterboxing ---------------------------------------------------------------------------


def letterboxed(fill: str, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """A 16:9 picture in the middle of a portrait frame, a caption on the top bar."""
    picture_height = width * 9 // 16
    picture = texture(picture_height, width, seed=5)
    if fill == "black":
        frame = np.zeros((height, width), np.uint8)
    elif fill == "solid":
        frame = np.full((height, width), 235, np.uint8)
    else:  # a blurred, enlarged copy of the picture behind it, as reposting apps make
        zoom = resize(picture, width * height // picture_height, height)[:, :width]
        frame = resize(resize(zoom, width // 16, height // 16, Image.Resampling.BOX),
                       width, height, Image.Resampling.BILINEAR)
    frame = frame.copy()
    top = (height - picture_height) // 2
    frame[top:top + picture_height] = picture
    ink = 0 if fill == "solid" else 255
    for i in range(12):  # "text": strokes on the top bar
        x = width // 5 + i * width // 20
        frame[top // 3: top // 3 + height // 40, x: x + width // 60] = ink
    return frame


@pytest.mark.parametrize("fill", ["black", "solid", "blurred"])
@pytest.mark.parametrize("size", [(HEIGHT, WIDTH), (480, 270)], ids=["1080x1920", "270x480"])
def test_a_landscape_picture_in_a_portrait_frame_is_letterboxed(
        fill: str, size: tuple[int, int]) -> None:
    frame = jpeg(resize(letterboxed(fill), size[1], size[0]), 85)
    box = measures.letterboxing(luma(frame))
    assert box is not None
    bar = (1 - 9 / 16 * WIDTH / HEIGHT) / 2  # 0.342
    assert (box.top, box.bottom) == (pytest.approx(bar, abs=0.01), pytest.approx(bar, abs=0.01))
    assert box.content_aspect == pytest.approx(16 / 9, abs=0.05)
    assert box.fill == fill


def test_a_portrait_picture_is_not_letterboxed() -> None:
    full = texture(HEIGHT // 2, WIDTH // 2)
    sky_and_ground = luma(full).copy()
    sky_and_ground[:250] = 200.0  # a plain sky above...
    sky_and_ground[-200:] = luma(resize(resize(full[-200:], 34, 12), 540, 200))  # blurred ground
    assert measures.letterboxing(luma(full)) is None
    assert measures.letterboxing(sky_and_ground) is None
    assert measures.letterboxing(luma(letterboxed("black")).T.copy()) is None  # landscape frame


# --- the analyzer's records and summaries ---------------------------------------------------


def frames(images: list[np.ndarray], step_s: float = 0.5) -> FramesInput:
    return FramesInput("v", 0, [DecodedFrame(i, i * step_s, rgb(img))
                                for i, img in enumerate(images)])


def test_an_upscaled_repost_at_source_size() -> None:
    upscaled = jpeg(resize(texture(960, 540, seed=4), WIDTH, HEIGHT), 85)
    analyzer = QualityAnalyzer()
    records = analyzer.process(frames([upscaled] * 3))
    summary = analyzer.summarize_with(records, VideoFacts(2.0, (0.0,), WIDTH, HEIGHT))
    assert summary.effective_resolution is not None
    assert 460 <= summary.effective_resolution <= 650
    assert (summary.frame_short_side, summary.upscaled) == (WIDTH, True)
    assert summary.blocky_share == 0.0 and summary.interlaced_share == 0.0
    assert summary.unavailable == {}
    sharp = analyzer.process(frames([jpeg(texture(HEIGHT, WIDTH), 85)]))
    assert analyzer.summarize_with(sharp, VideoFacts(1.0, (0.0,), WIDTH, HEIGHT)).upscaled is False


def test_frames_smaller_than_the_source_say_what_they_cannot_show() -> None:
    small = jpeg(resize(texture(HEIGHT, WIDTH), 270, 480, Image.Resampling.BOX), 85)
    analyzer = QualityAnalyzer()
    summary = analyzer.summarize_with(analyzer.process(frames([small, small])),
                                      VideoFacts(1.0, (0.0,), WIDTH, HEIGHT))
    assert summary.upscaled is None and summary.blockiness_mean is None
    assert summary.unavailable["blockiness_mean"].startswith(
        "frames were 270 px on their short side, the source 1080")
    assert "upscaled" in summary.unavailable
    assert summary.effective_resolution == 270


def test_letterboxing_in_the_summary_and_the_summary_per_shot() -> None:
    boxed = jpeg(resize(letterboxed("blurred"), 270, 480), 85)
    rng = np.random.default_rng(5)
    noisy = np.clip(128 + rng.normal(0, 12, (480, 270)), 0, 255).astype(np.uint8)
    clean = np.full((480, 270), 128, np.uint8)
    analyzer = QualityAnalyzer()
    # 0.0-1.5 s letterboxed, 2.0-3.5 s noise, 4.0-5.5 s flat; shots start at 0, 2 and 4 s.
    records = analyzer.process(frames([boxed] * 4 + [noisy] * 4 + [clean] * 4))
    summary = analyzer.summarize_with(records, VideoFacts(6.0, (0.0, 2.0, 4.0), 270, 480))
    assert summary.letterboxed_share == pytest.approx(4 / 12, abs=1e-3)
    assert summary.letterbox is None  # most frames are not letterboxed
    shots = summary.shots
    assert [(s.start_s, s.end_s, s.frames) for s in shots] == [
        (0.0, 2.0, 4), (2.0, 4.0, 4), (4.0, 6.0, 4)]
    assert shots[1].noise_mean == pytest.approx(12, rel=0.1)
    assert shots[2].noise_mean == 0.0 and shots[2].sharpness_mean == 0.0
    only_boxed = analyzer.summarize(records[:4])
    assert only_boxed.letterbox is not None and only_boxed.letterbox.fill == "blurred"
    assert only_boxed.shots == []  # no shots known without the video's facts


def test_a_version_1_record_still_summarizes() -> None:
    """During a rolling upgrade a video can mix records of both versions."""
    old = {"t": 0.0, "width": 270, "height": 480, "sharpness": 5.0, "noise": 1.0,
           "contrast": 0.2, "clipped_dark": 0.0, "clipped_bright": 0.0,
           "black_bars": {"top": 0, "bottom": 0, "left": 0, "right": 0}}
    analyzer = QualityAnalyzer()
    new = [r.model_copy(update={"t": 1.0}) for r in analyzer.process(
        frames([jpeg(texture(480, 270), 85)]))]
    records = [*analyzer.parse_records([old]), *new]
    summary = analyzer.summarize(records)
    assert summary.blocky_share == 0.0 and summary.interlaced_share == 0.0  # of the v2 frame
    assert summary.sharpness_mean is not None


def test_max_side_asks_the_sampler_for_frames_at_the_source_size() -> None:
    policies = frame_policies(["quality", "color"], {"quality": {"max_side": 1920}})
    assert policies["quality"].max_side == 1920
    assert policies["color"].max_side is None
    assert frame_policies(["quality"], {})["quality"].max_side is None
