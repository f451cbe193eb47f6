"""Load an ultralytics ``.pt`` checkpoint without executing arbitrary pickled code.

Ultralytics checkpoints pickle whole ``nn.Module`` objects, so plain ``weights_only=True``
refuses them and ultralytics' own loader unpickles anything. Here the checkpoint's globals are
listed first, every one must come from an allowlisted module (ultralytics' and torch's own
classes, a few harmless builtins), and only then is it loaded with ``weights_only=True`` and
exactly those globals allowed.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from tiktok_analyzer.shared.errors import AnalyzerSystemError

# Layer classes only: constructing them runs no code an attacker controls.
ALLOWED_PREFIXES = (
    "ultralytics.nn.modules.",
    "ultralytics.nn.tasks.",
    "ultralytics.utils.IterableSimpleNamespace",
    "torch.nn.modules.",
    "collections.OrderedDict",
    "types.SimpleNamespace",
)


class UnsafeCheckpoint(AnalyzerSystemError):
    """A checkpoint refers to code outside the allowlist."""


def _resolve(name: str) -> Any:
    module, _, attr = name.rpartition(".")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def load_checkpoint(path: Path) -> dict[str, Any]:
    import torch

    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception as exc:  # the scanner refuses opcodes it cannot vouch for
        raise UnsafeCheckpoint(f"{path.name} cannot be inspected safely: {exc}") from exc
    refused = [n for n in names if not n.startswith(ALLOWED_PREFIXES)]
    if refused:
        raise UnsafeCheckpoint(f"{path.name} refers to disallowed globals: {sorted(refused)}")
    allowed = []
    for name in names:
        try:
            allowed.append(_resolve(name))
        except (ImportError, AttributeError) as exc:
            raise UnsafeCheckpoint(f"{path.name}: cannot resolve {name}") from exc
    with torch.serialization.safe_globals(allowed):
        checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or "model" not in checkpoint:
        raise UnsafeCheckpoint(f"{path.name} is not an ultralytics checkpoint")
    return checkpoint
