"""GPU memory: telling an out-of-memory error apart, giving memory back, capping a process.

torch is imported only where a torch model already imported it (``sys.modules``): the runner
runs weight-free analyzers too, in processes (the sampler, the aggregator, CPU-only services)
that must not pay for importing it.
"""

from __future__ import annotations

import logging
import sys

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tiktok_analyzer.shared.errors import ConfigError

log = logging.getLogger(__name__)


class GpuSettings(BaseSettings):
    """Per analyzer service (``TIKTOK_GPU_*``). Which GPU a replica uses is
    ``TIKTOK_MODEL_DEVICE`` (``cuda:N``) or, one replica per GPU, ``CUDA_VISIBLE_DEVICES``."""

    model_config = SettingsConfigDict(env_prefix="TIKTOK_GPU_", frozen=True, extra="ignore")

    memory_fraction: float | None = Field(
        default=None, gt=0, le=1,
        description="Most of the GPU's memory this process may allocate through torch "
                    "(torch.cuda.set_per_process_memory_fraction); past it a model call gets "
                    "an out-of-memory error, which the runner handles by halving the call. "
                    "Unset: no cap")


def is_out_of_memory(exc: BaseException) -> bool:
    """A CUDA out-of-memory error: ``torch.cuda.OutOfMemoryError``, or the plain
    ``RuntimeError`` older code paths (cuDNN, cuBLAS, some extensions) raise with the same
    words."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "CUDA out of memory" in str(exc)


def free_accelerator_memory() -> None:
    """Give torch's cached, unused GPU blocks back, so that a retry (or a neighbour on the
    same GPU) finds them; a no-op without CUDA."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def cap_memory(fraction: float | None, device: str) -> None:
    """Limit this process to ``fraction`` of ``device``'s memory (a resolved ``cuda[:N]``;
    nothing to do on the CPU)."""
    if fraction is None or not device.startswith("cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(f"TIKTOK_GPU_MEMORY_FRACTION is set but CUDA is not available "
                          f"for {device}")
    index = torch.device(device).index
    torch.cuda.set_per_process_memory_fraction(
        fraction, index if index is not None else torch.cuda.current_device())
    log.info("GPU memory capped at %.0f%% of %s", fraction * 100, device)
