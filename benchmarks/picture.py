"""gpu_light picture analyzers: how close ``quality``'s effective resolution comes, and what
``quality``, ``composition`` and ``color`` cost per frame.

Accuracy: a picture with a natural image's 1/f spectrum is made at 270, 360, 540 and 720 px
on its short side, upscaled into 1080x1920 by five common scalers (Pillow's bilinear,
bicubic and Lanczos, OpenCV's bilinear and bicubic), put through JPEG at quality 85 as the
sampler does, and measured; printed is the estimate over the truth per case, then min, max.
Cost: eight random frames per call at the light group's size (270x480) and at source size
(1080x1920), median of ``--repeat`` calls after one warm-up, one BLAS thread as the services.

    .venv/bin/python benchmarks/picture.py [--repeat 5]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import io  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from tiktok_analyzer.gpu_light.analyzers._picture import effective_resolution  # noqa: E402
from tiktok_analyzer.gpu_light.analyzers.color import ColorAnalyzer  # noqa: E402
from tiktok_analyzer.gpu_light.analyzers.composition import CompositionAnalyzer  # noqa: E402
from tiktok_analyzer.gpu_light.analyzers.quality import QualityAnalyzer  # noqa: E402
from tiktok_analyzer.shared.runtime.analyzers import DecodedFrame, FramesInput  # noqa: E402

HEIGHT, WIDTH = 1920, 1080


def texture(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    radius = np.hypot(np.fft.rfftfreq(width)[None, :], np.fft.fftfreq(height)[:, None])
    radius[0, 0] = 1.0
    image = np.fft.irfft2(np.fft.rfft2(rng.normal(size=(height, width))) / radius,
                          s=(height, width))
    return np.clip((image - image.mean()) / image.std() * 40 + 128, 0, 255).astype(np.uint8)


def jpeg(gray: np.ndarray) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, format="JPEG", quality=85)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())))


def pil(method: Image.Resampling) -> Callable[[np.ndarray], np.ndarray]:
    return lambda g: np.asarray(Image.fromarray(g).resize((WIDTH, HEIGHT), method))


def opencv(method: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda g: cv2.resize(g, (WIDTH, HEIGHT), interpolation=method)


SCALERS = {"pil-bilinear": pil(Image.Resampling.BILINEAR),
           "pil-bicubic": pil(Image.Resampling.BICUBIC),
           "pil-lanczos": pil(Image.Resampling.LANCZOS),
           "cv2-bilinear": opencv(cv2.INTER_LINEAR), "cv2-bicubic": opencv(cv2.INTER_CUBIC)}


def accuracy() -> None:
    ratios = []
    for source in (270, 360, 540, 720):
        small = texture(source * 16 // 9, source, seed=3)
        row = []
        for name, scale in SCALERS.items():
            found = effective_resolution(jpeg(scale(small)).astype(np.float32))
            ratio = (found or 0) / source
            ratios.append(ratio)
            row.append(f"{name} {found} ({ratio:.2f})")
        print(f"{source}p in 1080x1920: " + ", ".join(row))
    native = effective_resolution(jpeg(texture(HEIGHT, WIDTH, seed=1)).astype(np.float32))
    print(f"estimate / truth: min {min(ratios):.2f}, max {max(ratios):.2f}; "
          f"a sharp 1080x1920 frame: {native}")


def cost(repeat: int) -> None:
    rng = np.random.default_rng(0)
    for height, width in ((480, 270), (HEIGHT, WIDTH)):
        batch = FramesInput("bench", 0, [
            DecodedFrame(i, i * 0.5, rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
            for i in range(8)])
        for analyzer in (QualityAnalyzer(), CompositionAnalyzer(), ColorAnalyzer()):
            analyzer.process(batch)
            runs = []
            for _ in range(repeat):
                started = time.perf_counter()
                analyzer.process(batch)
                runs.append((time.perf_counter() - started) / len(batch.frames))
            print(f"{analyzer.key:<12} {width}x{height}: "
                  f"{statistics.median(runs) * 1000:6.1f} ms per frame")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    accuracy()
    cost(args.repeat)


if __name__ == "__main__":
    main()
