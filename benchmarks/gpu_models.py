"""GPU benchmark of every gpu_heavy and gpu_light model at real size: frames per second, peak
GPU memory, and the GPU time a 60 s video's frames take, per batch size and precision.

No weights can be downloaded here, so each model is its real architecture with random weights;
speed and memory depend on the architecture, the input size and (for captioning) the number
of decoded tokens, not on the weights' values:

* ``objects``: YOLOv8n and YOLOv8s from ultralytics' yaml, through ``YOLO.predict`` (letterbox,
  forward, NMS) on portrait 640x360 frames at ``imgsz`` 640; fp32 and fp16 (``half``).
* ``caption``: BLIP-2 OPT-2.7b from a hand-written ``Blip2Config`` with the released model's
  dimensions (vision ViT-g: 1408 hidden, 39 layers, 16 heads, 6144 MLP, 224 px, patch 14;
  Q-Former 768 hidden, 12 layers, 32 queries; OPT-2.7b: 2560 hidden, 32 layers, 32 heads,
  10240 FFN, 50272 tokens), saved once with ``save_pretrained`` into
  ``.cache/bench/blip2-opt-2.7b-random`` and loaded with ``from_pretrained`` as the analyzer
  loads it: fp32, fp16, bf16, and bitsandbytes 8-bit and 4-bit (NF4, bf16 compute) through
  ``BitsAndBytesConfig`` (CUDA only). ``generate`` decodes exactly ``--tokens`` new tokens
  (min = max: a random model would otherwise stop anywhere) from the 32 image queries.
* ``segmentation``: SegFormer-b0 (``SegformerConfig()`` defaults are MiT-b0: hidden sizes
  32/64/160/256, depths 2/2/2/2, decoder 256) with ADE20K's 150 labels, 512x512 input.
* ``scene_labels``: CLIP ViT-B-32, ``open_clip.create_model("ViT-B-32")`` (random init),
  ``encode_image`` at 224 px.
* ``ocr``: EasyOCR's CRAFT detector (VGG16-BN U-net, ``easyocr.craft.CRAFT``) on 480x288
  frames (the light group's 480 px, padded to a multiple of 32) and its English CRNN recognizer
  (``easyocr.model.model.Model``: 1 input channel, 256 output channels, 256 hidden, 97
  classes) on ``--crops`` 64x256 text crops per frame.
* SmolVLM2 is not included yet: its generate path needs the processor's image splitting and
  tokenizer, which cannot be built without downloading them.

A 60 s video's frames per analyzer (``--shots`` shots, 10 by default, add their first frames
where the analyzer asks for shot starts): objects 2 fps + shot starts = 130, caption every 3 s
+ shot starts = 30, segmentation every 2 s + shot starts = 40, scene_labels 2 fps + shot
starts = 130, ocr 2 fps = 120.

Targets on one H200: caption's BLIP-2 in 8-bit <= 4 GB and in 4-bit <= 2.5 GB peak; gpu_heavy's
three models on one 60 s video's frames <= 2 s of GPU time (the summary line sums each model's
fastest setting).

    .venv/bin/python benchmarks/gpu_models.py                       # everything, on CUDA
    .venv/bin/python benchmarks/gpu_models.py --only caption --batch-sizes 1 4 8
    .venv/bin/python benchmarks/gpu_models.py --smoke --device cpu  # tiny sizes, under a minute
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "bench"

FRAMES_GRID = {"objects": 0.5, "caption": 3.0, "segmentation": 2.0, "scene_labels": 0.5,
               "ocr": 0.5}
SHOT_STARTS = {"objects", "caption", "segmentation", "scene_labels"}
HEAVY = ("objects", "caption", "segmentation")


def frames_per_minute(analyzer: str, shots: int) -> int:
    return round(60 / FRAMES_GRID[analyzer]) + (shots if analyzer in SHOT_STARTS else 0)


Run = Callable[[int], None]
"""Analyzes ``n`` frames (one call)."""


@dataclass(frozen=True)
class Built:
    run: Run
    weights_bytes: int | None


@dataclass(frozen=True)
class Case:
    analyzer: str
    model: str
    precision: str
    build: Callable[[], Built]


# --- the models -----------------------------------------------------------------------------


def _torch() -> Any:
    import torch

    return torch


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        _torch().cuda.synchronize()


def _allocated(device: str) -> int | None:
    return _torch().cuda.memory_allocated() if device.startswith("cuda") else None


def _dtype(precision: str) -> Any:
    torch = _torch()
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


def yolo(variant: str, precision: str, device: str, smoke: bool) -> Built:
    from ultralytics import YOLO  # type: ignore[attr-defined]

    model = YOLO(f"{variant}.yaml", task="detect")
    size = 160 if smoke else 640
    frame = np.random.default_rng(0).integers(0, 255, (size, size * 9 // 16, 3), np.uint8)
    model.predict([frame], imgsz=size, device=device, half=precision == "fp16", verbose=False)
    weights = _allocated(device)

    def run(n: int) -> None:
        model.predict([frame] * n, imgsz=size, device=device, half=precision == "fp16",
                      verbose=False)

    return Built(run, weights)


def blip2_config(smoke: bool) -> Any:
    from transformers import Blip2Config, Blip2QFormerConfig, Blip2VisionConfig, OPTConfig

    if smoke:
        vision = Blip2VisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=2, image_size=32, patch_size=8)
        qformer = Blip2QFormerConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, encoder_hidden_size=32)
        text = OPTConfig(hidden_size=32, num_hidden_layers=2, ffn_dim=64, num_attention_heads=2,
                         vocab_size=1000, word_embed_proj_dim=32, max_position_embeddings=128)
        return Blip2Config(vision_config=vision.to_dict(), qformer_config=qformer.to_dict(),
                           text_config=text.to_dict(), num_query_tokens=4,
                           image_token_index=999)
    vision = Blip2VisionConfig(hidden_size=1408, intermediate_size=6144, num_hidden_layers=39,
                               num_attention_heads=16, image_size=224, patch_size=14)
    qformer = Blip2QFormerConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                                 intermediate_size=3072, encoder_hidden_size=1408,
                                 cross_attention_frequency=2)
    text = OPTConfig(hidden_size=2560, num_hidden_layers=32, ffn_dim=10240,
                     num_attention_heads=32, vocab_size=50272, word_embed_proj_dim=2560,
                     max_position_embeddings=2048, bos_token_id=2, eos_token_id=2,
                     pad_token_id=1)
    # 50265: the image token the released checkpoint's processor adds to OPT's vocabulary.
    return Blip2Config(vision_config=vision.to_dict(), qformer_config=qformer.to_dict(),
                       text_config=text.to_dict(), num_query_tokens=32,
                       image_token_index=50265)


def blip2_folder(smoke: bool) -> Path:
    """The random checkpoint, written once (fp16 on disk, ~7.7 GB at real size)."""
    import torch
    from transformers import Blip2ForConditionalGeneration

    folder = CACHE / ("blip2-smoke-random" if smoke else "blip2-opt-2.7b-random")
    if not (folder / "config.json").is_file():
        print(f"writing a random BLIP-2 into {folder} ...", flush=True)
        torch.manual_seed(0)
        model = Blip2ForConditionalGeneration(blip2_config(smoke))
        model.save_pretrained(folder, safe_serialization=True)
        del model
        gc.collect()
    return folder


def blip2(precision: str, device: str, smoke: bool, tokens: int) -> Built:
    import torch
    from transformers import BitsAndBytesConfig, Blip2ForConditionalGeneration

    folder = blip2_folder(smoke)
    kwargs: dict[str, Any] = {}
    if precision == "int8":
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
        kwargs["dtype"] = torch.float16
    elif precision == "nf4":
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16)
        kwargs["dtype"] = torch.bfloat16
    else:
        kwargs["dtype"] = _dtype(precision)
    if "quantization_config" in kwargs:
        kwargs["device_map"] = {"": device}
    model = Blip2ForConditionalGeneration.from_pretrained(folder, **kwargs).eval()
    if "quantization_config" not in kwargs:
        model = model.to(device)
    weights = _allocated(device)
    side = model.config.vision_config.image_size
    compute = kwargs["dtype"]

    def run(n: int) -> None:
        pixels = torch.rand(n, 3, side, side, device=device, dtype=compute)
        with torch.inference_mode():
            model.generate(pixel_values=pixels, max_new_tokens=tokens, min_new_tokens=tokens,
                           do_sample=False, num_beams=1)

    return Built(run, weights)


def segformer(precision: str, device: str, smoke: bool) -> Built:
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    config: Any = SegformerConfig  # transformers' typing of config kwargs is incomplete
    network: Any = SegformerForSemanticSegmentation(config(num_labels=150))
    model = network.to(device=device, dtype=_dtype(precision)).eval()
    weights = _allocated(device)
    side = 64 if smoke else 512

    def run(n: int) -> None:
        pixels = torch.rand(n, 3, side, side, device=device, dtype=_dtype(precision))
        with torch.inference_mode():
            logits = model(pixel_values=pixels).logits
            # The analyzer's per-pixel classes at the input size, as the post-processing does.
            torch.nn.functional.interpolate(logits, size=(side, side), mode="bilinear").argmax(1)

    return Built(run, weights)


def clip(precision: str, device: str, smoke: bool) -> Built:
    import open_clip  # type: ignore[import-untyped]
    import torch

    model = open_clip.create_model("ViT-B-32", pretrained=None)
    model = model.to(device=device, dtype=_dtype(precision)).eval()
    weights = _allocated(device)

    def run(n: int) -> None:
        pixels = torch.rand(n, 3, 224, 224, device=device, dtype=_dtype(precision))
        with torch.inference_mode():
            model.encode_image(pixels)

    return Built(run, weights)


def easyocr_models(precision: str, device: str, smoke: bool, crops: int) -> Built:
    import torch
    from easyocr.craft import CRAFT  # type: ignore[import-untyped]
    from easyocr.model.model import Model  # type: ignore[import-untyped]

    detector = CRAFT(pretrained=False).to(device=device, dtype=_dtype(precision)).eval()
    # English (latin_g2 character set: 96 characters + the CTC blank).
    recognizer = Model(input_channel=1, output_channel=256, hidden_size=256, num_class=97)
    recognizer = recognizer.to(device=device, dtype=_dtype(precision)).eval()
    weights = _allocated(device)
    height, width = (64, 64) if smoke else (480, 288)
    per_frame = 1 if smoke else crops

    def run(n: int) -> None:
        frames = torch.rand(n, 3, height, width, device=device, dtype=_dtype(precision))
        text = torch.rand(n * per_frame, 1, 64, 256, device=device, dtype=_dtype(precision))
        with torch.inference_mode():
            detector(frames)
            recognizer(text, None)

    return Built(run, weights)


def cases(args: argparse.Namespace) -> list[Case]:
    device, smoke = args.device, args.smoke
    cuda = device.startswith("cuda")
    floats = ["fp32"] if smoke or not cuda else ["fp32", "fp16", "bf16"]
    out: list[Case] = []
    for variant in (["yolov8n"] if smoke else ["yolov8n", "yolov8s"]):
        for p in (["fp32"] if smoke or not cuda else ["fp32", "fp16"]):
            out.append(Case("objects", variant, p, partial(yolo, variant, p, device, smoke)))
    for p in floats + (["int8", "nf4"] if cuda else []):
        out.append(Case("caption", "blip2-opt-2.7b" if not smoke else "blip2-tiny", p,
                        partial(blip2, p, device, smoke, args.tokens)))
    for p in floats:
        out.append(Case("segmentation", "segformer-b0-ade", p,
                        partial(segformer, p, device, smoke)))
        out.append(Case("scene_labels", "clip-vit-b-32", p, partial(clip, p, device, smoke)))
        out.append(Case("ocr", "easyocr-craft+crnn", p,
                        partial(easyocr_models, p, device, smoke, args.crops)))
    return [c for c in out if not args.only or c.analyzer in args.only]


# --- measuring ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    case: Case
    batch: int
    fps: float
    peak_bytes: int | None
    weights_bytes: int | None
    error: str | None = None


def measure(case: Case, batches: list[int], repeat: int, device: str) -> list[Row]:
    torch = _torch()
    rows = []
    try:
        built = case.build()
    except Exception as exc:  # one model failing to build must not end the sweep
        return [Row(case, 0, 0.0, None, None, f"build: {type(exc).__name__}: {exc}")]
    for batch in batches:
        try:
            built.run(batch)  # warm-up: kernels chosen, allocator grown
            _sync(device)
            if device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                built.run(batch)
                _sync(device)
                times.append(time.perf_counter() - started)
            peak = torch.cuda.max_memory_allocated() if device.startswith("cuda") else None
            rows.append(Row(case, batch, batch / statistics.median(times), peak,
                            built.weights_bytes))
        except Exception as exc:
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
            rows.append(Row(case, batch, 0.0, None, built.weights_bytes,
                            f"{type(exc).__name__}: {str(exc)[:120]}"))
    del built
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return rows


def gib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**30:.2f}"


def print_sizes() -> None:
    """BLIP-2 OPT-2.7b's parameters and weight memory per precision, from the real-size
    architecture built on torch's meta device (no memory, no GPU). fp32 and fp16 are exact;
    8-bit and 4-bit are estimates of what ``BitsAndBytesConfig`` loads: every Linear layer's
    weight at 1 byte plus an fp32 scale per row (LLM.int8) or 0.5 byte plus an fp32 scale per
    block of 64 (NF4), except the modules transformers keeps as they are: ``lm_head`` (fp16,
    tied to the token embedding) and, for BLIP-2, the Q-Former and query tokens (fp32); the
    rest fp16."""
    torch = _torch()
    from transformers import Blip2ForConditionalGeneration

    with torch.device("meta"):
        model = Blip2ForConditionalGeneration(blip2_config(smoke=False))
    total = sum(p.numel() for p in model.parameters())
    kept_fp32 = sum(p.numel() for n, p in model.named_parameters()
                    if n.startswith(("qformer.", "query_tokens")))
    quantized = [m.weight for n, m in model.named_modules()
                 if isinstance(m, torch.nn.Linear) and not n.startswith("qformer.")
                 and not n.endswith("lm_head")]
    in_quantized = sum(w.numel() for w in quantized)
    rows = sum(w.shape[0] for w in quantized)
    fp16_rest = total - kept_fp32 - in_quantized
    loaded_fp16 = 4 * kept_fp32 + 2 * (total - kept_fp32)
    sizes = {
        "fp32": 4 * total,
        "fp16 (as loaded)": loaded_fp16,
        "int8 (estimate)": in_quantized + 4 * rows + 2 * fp16_rest + 4 * kept_fp32,
        "int4 (estimate)": (in_quantized // 2 + 4 * (in_quantized // 64) + 2 * fp16_rest
                            + 4 * kept_fp32),
    }
    print(f"BLIP-2 OPT-2.7b: {total / 1e6:,.1f} M parameters ({in_quantized / 1e6:,.1f} M in "
          f"quantizable Linear layers, {kept_fp32 / 1e6:,.1f} M kept in fp32)")
    for name, size in sizes.items():
        print(f"  {name:<17} {size / 1e9:6.2f} GB of weights")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes, batch 1 and 2, fp32: checks the script on a CPU")
    parser.add_argument("--only", nargs="+", choices=sorted(FRAMES_GRID), default=None)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 8, 16, 32])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=20, help="caption tokens per frame")
    parser.add_argument("--crops", type=int, default=8, help="ocr text crops per frame")
    parser.add_argument("--shots", type=int, default=10, help="shots in the 60 s video")
    parser.add_argument("--sizes", action="store_true",
                        help="only print BLIP-2's weight memory per precision (no device)")
    args = parser.parse_args()
    if args.sizes:
        print_sizes()
        return
    if args.smoke:
        args.batch_sizes, args.repeat, args.tokens = [1, 2], 1, 2
    torch = _torch()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("CUDA is not available; use --device cpu (with --smoke for a quick check)")
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    print(f"device {args.device} ({name}), torch {torch.__version__}, random weights, "
          f"batches {args.batch_sizes}, median of {args.repeat}")
    header = (f"{'analyzer':<13} {'model':<20} {'prec':<5} {'batch':>5} {'frames/s':>9} "
              f"{'peak GiB':>9} {'weights GiB':>11} {'60s frames':>10} {'60s time s':>10}")
    print(header)
    best: dict[str, tuple[float, str]] = {}
    for case in cases(args):
        frames = frames_per_minute(case.analyzer, args.shots)
        for row in measure(case, args.batch_sizes, args.repeat, args.device):
            if row.error:
                print(f"{case.analyzer:<13} {case.model:<20} {case.precision:<5} "
                      f"{row.batch:>5} failed: {row.error}", flush=True)
                continue
            seconds = frames / row.fps
            print(f"{case.analyzer:<13} {case.model:<20} {case.precision:<5} {row.batch:>5} "
                  f"{row.fps:>9.1f} {gib(row.peak_bytes):>9} {gib(row.weights_bytes):>11} "
                  f"{frames:>10} {seconds:>10.3f}", flush=True)
            # The heavy group's budget counts the production choice per analyzer: YOLOv8n.
            if case.model != "yolov8s" and seconds < best.get(case.analyzer, (1e9, ""))[0]:
                best[case.analyzer] = (seconds, f"{case.model} {case.precision} b{row.batch}")
    heavy = [a for a in HEAVY if a in best]
    if heavy:
        total = sum(best[a][0] for a in heavy)
        print(f"gpu_heavy on a 60 s video, fastest setting each: {total:.3f} s GPU time "
              f"(target <= 2 s) = " + " + ".join(f"{a} {best[a][0]:.3f} s ({best[a][1]})"
                                                  for a in heavy))


if __name__ == "__main__":
    main()
