"""The two model backends of ``caption``, loaded from the model store with transformers.

- ``Blip2Captioner``: BLIP-2 (``Blip2ForConditionalGeneration`` + its processor), one caption
  per image, every image of a call in one ``generate()``.
- ``VlmCaptioner``: a small instruction-tuned vision-language model through
  ``AutoModelForImageTextToText`` and its processor's chat template (the lock pins SmolVLM,
  an Idefics3 model): one caption per image as BLIP-2 does, and ``describe`` for several
  frames of one shot in a single prompt.

Precision (``load_options``): what a device can run is decided here, before any weight is
read. CPU runs fp32 or bf16; CUDA runs fp32, bf16, fp16, and 8-bit or 4-bit (NF4) weights
through bitsandbytes (``BitsAndBytesConfig``). A CPU asked for fp16, 8-bit or 4-bit fails the
load with a ``ConfigError`` saying what to set instead, rather than falling back: the quantized
settings exist to fit a memory budget, and a silent fp32 fallback of BLIP-2 2.7B would take
about 15 GB where 8-bit takes about 4, which on a shared host is an out-of-memory kill of the
whole service later instead of one clear ``failed`` section now.

Loading refuses weights that do not fill the architecture (missing or mismatched keys), as the
audio analyzers do: transformers would fill them with random values, and random output must
never be presented as analysis. Model libraries are imported in the functions, never at module
level (the aggregator imports the plugin without them).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tiktok_analyzer.shared.errors import ConfigError
from tiktok_analyzer.shared.runtime.gpu import free_accelerator_memory

Precision = Literal["auto", "fp32", "bf16", "fp16", "int8", "int4"]
CPU_PRECISIONS = ("fp32", "bf16")


def resolve_precision(precision: Precision, device: str) -> Precision:
    """``auto``: fp16 on CUDA (the precision BLIP-2 and SmolVLM were published in), fp32 on
    CPU; an explicit choice the device cannot run is a ``ConfigError``."""
    on_cuda = device.startswith("cuda")
    if precision == "auto":
        return "fp16" if on_cuda else "fp32"
    if not on_cuda and precision not in CPU_PRECISIONS:
        why = ("8-bit and 4-bit weights need bitsandbytes' CUDA kernels"
               if precision in ("int8", "int4") else
               "half-precision matrix products on CPU are slow or missing")
        raise ConfigError(
            f"caption precision {precision!r} cannot run on {device}: {why}; set precision to "
            f"'fp32' or 'bf16' for CPU, or run the analyzer on a CUDA device")
    return precision


def load_options(precision: Precision, device: str) -> dict[str, Any]:
    """Keyword arguments for ``from_pretrained`` that load the weights at ``precision`` on
    ``device`` (after ``resolve_precision``)."""
    import torch

    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    if precision in dtypes:
        return {"dtype": dtypes[precision]}
    try:
        import bitsandbytes  # noqa: F401  # fail here with the fix, not deep in from_pretrained
    except ImportError as exc:
        raise ConfigError("caption precision int8/int4 needs bitsandbytes: install "
                          "tiktok-analyzer-gpu-heavy[runtime]") from exc
    from transformers import BitsAndBytesConfig

    if precision == "int8":
        quantization = BitsAndBytesConfig(load_in_8bit=True)
    else:
        quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                          bnb_4bit_compute_dtype=torch.float16)
    # Quantized weights are placed by accelerate at load time (they cannot be moved later);
    # the layers bitsandbytes leaves alone (norms, the vision tower's embeddings) are fp16.
    return {"dtype": torch.float16, "quantization_config": quantization,
            "device_map": {"": device}}


def require_complete(info: dict[str, Any], model_id: str) -> None:
    missing = sorted(info.get("missing_keys", ()))
    mismatched = list(info.get("mismatched_keys", ()))
    if missing or mismatched:
        raise ValueError(f"checkpoint of {model_id} does not fit the architecture: "
                         f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                         f"mismatched {mismatched[:5]}")


def writable(image: np.ndarray) -> np.ndarray:
    """Decoded frames arrive read-only; torch wants arrays it could write to."""
    return image if image.flags.writeable else image.copy()


class _Generator:
    """What both backends share: the loaded model on its device and the generation call."""

    model: Any
    processor: Any
    device: str
    dtype: Any

    def __init__(self, max_new_tokens: int, num_beams: int) -> None:
        self.max_new_tokens, self.num_beams = max_new_tokens, num_beams

    def _place(self, model: Any, options: dict[str, Any], device: str) -> None:
        self.device = device
        self.dtype = options["dtype"]
        # A quantized model is already on its device (device_map); the others move now.
        self.model = (model if "quantization_config" in options
                      else model.to(device=device)).eval()

    def _generate(self, inputs: Any) -> list[str]:
        import torch

        inputs = inputs.to(self.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        with torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens,
                                      num_beams=self.num_beams, do_sample=False)
        # Both models return the prompt followed by the new tokens: keep only the new ones.
        new = out[:, inputs["input_ids"].shape[1]:]
        texts: list[str] = self.processor.batch_decode(new, skip_special_tokens=True)
        return texts

    def close(self) -> None:
        self.model = None
        free_accelerator_memory()


class Blip2Captioner(_Generator):
    def __init__(self, folder: Path, model_id: str, device: str, precision: Precision,
                 prompt: str, max_new_tokens: int, num_beams: int) -> None:
        super().__init__(max_new_tokens, num_beams)
        from transformers import AutoProcessor, Blip2ForConditionalGeneration

        options = load_options(resolve_precision(precision, device), device)
        self.processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
        # With output_loading_info, from_pretrained returns (model, info): typed as a model.
        loaded: Any = Blip2ForConditionalGeneration.from_pretrained(
            folder, local_files_only=True, use_safetensors=True, output_loading_info=True,
            **options)
        model, info = loaded
        require_complete(info, model_id)
        self._place(model, options, device)
        # BLIP-2 captions best unprompted; a prompt (e.g. "a photo of") is continued.
        self.prompt = prompt

    def caption(self, images: Sequence[np.ndarray]) -> list[str]:
        inputs = self.processor(images=[writable(i) for i in images],
                                text=[self.prompt] * len(images),
                                return_tensors="pt", padding=True)
        return self._generate(inputs)


class VlmCaptioner(_Generator):
    def __init__(self, folder: Path, model_id: str, device: str, precision: Precision,
                 prompt: str, scene_prompt: str, max_new_tokens: int, num_beams: int,
                 image_splitting: bool) -> None:
        super().__init__(max_new_tokens, num_beams)
        from transformers import AutoModelForImageTextToText, AutoProcessor

        options = load_options(resolve_precision(precision, device), device)
        self.processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
        # Decoder-only generation over a batch: shorter prompts padded on the left, so that
        # every row's new tokens start right after its own prompt.
        self.processor.tokenizer.padding_side = "left"
        loaded: Any = AutoModelForImageTextToText.from_pretrained(
            folder, local_files_only=True, use_safetensors=True, output_loading_info=True,
            **options)
        model, info = loaded
        require_complete(info, model_id)
        self._place(model, options, device)
        self.prompt, self.scene_prompt = prompt, scene_prompt
        # Idefics3/SmolVLM cut a large image into tiles plus a downscaled copy; off, each
        # frame is one 512 px tile (64 tokens for SmolVLM-256M): enough for a caption, and
        # several frames fit one prompt on a CPU.
        self.image_splitting = image_splitting
        self._prompt(1, prompt)  # a store without a chat template fails the load, not a batch

    def _prompt(self, images: int, text: str) -> str:
        messages = [{"role": "user",
                     "content": [*([{"type": "image"}] * images), {"type": "text", "text": text}]}]
        template_owner = (self.processor if getattr(self.processor, "chat_template", None)
                          else self.processor.tokenizer)
        prompt: str = template_owner.apply_chat_template(messages, add_generation_prompt=True,
                                                         tokenize=False)
        return prompt

    def _run(self, groups: Sequence[Sequence[np.ndarray]], text: str) -> list[str]:
        prompts = [self._prompt(len(group), text) for group in groups]
        inputs = self.processor(images=[[writable(i) for i in group] for group in groups],
                                text=prompts,
                                return_tensors="pt", padding=True,
                                do_image_splitting=self.image_splitting)
        return self._generate(inputs)

    def caption(self, images: Sequence[np.ndarray]) -> list[str]:
        return self._run([[image] for image in images], self.prompt)

    def describe(self, images: Sequence[np.ndarray]) -> str:
        """One description of several frames of one shot, in their order."""
        return self._run([images], self.scene_prompt)[0]
