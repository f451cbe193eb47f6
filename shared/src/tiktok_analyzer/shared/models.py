"""The local model store: one folder, one subfolder per analyzer, pinned by ``models.lock.toml``.

Run time never reaches the internet: analyzers ask the store for their files and get
``WeightsMissing`` (with the command that fetches them) when they are absent.
"""

from __future__ import annotations

import hashlib
import tomllib
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tiktok_analyzer.shared.errors import ConfigError, WeightsMissing


@dataclass(frozen=True)
class PinnedFile:
    name: str
    url: str
    sha256: str | None = None


@dataclass(frozen=True)
class PinnedModel:
    analyzer: str
    model_id: str
    revision: str
    format: str
    files: tuple[PinnedFile, ...]


def load_lock(text: str | None = None) -> dict[str, PinnedModel]:
    if text is None:
        text = resources.files("tiktok_analyzer.shared").joinpath("models.lock.toml").read_text()
    raw = tomllib.loads(text)
    return {
        key: PinnedModel(
            analyzer=key,
            model_id=entry["model_id"],
            revision=entry["revision"],
            format=entry["format"],
            files=tuple(PinnedFile(**f) for f in entry["files"]),
        )
        for key, entry in raw.items()
    }


class ModelStore:
    def __init__(self, root: Path, lock: dict[str, PinnedModel] | None = None) -> None:
        self.root = root
        self.lock = lock if lock is not None else load_lock()

    def pinned(self, analyzer: str) -> PinnedModel:
        try:
            return self.lock[analyzer]
        except KeyError as exc:
            raise ConfigError(f"no pinned model for analyzer {analyzer!r}") from exc

    def folder(self, analyzer: str) -> Path:
        return self.root / analyzer

    def require(self, analyzer: str) -> tuple[PinnedModel, Path]:
        """The pinned model and its folder, or ``WeightsMissing`` saying how to fetch it."""
        pinned = self.pinned(analyzer)
        folder = self.folder(analyzer)
        missing = [f.name for f in pinned.files if not (folder / f.name).is_file()]
        if missing:
            raise WeightsMissing(
                f"weights for {pinned.model_id}@{pinned.revision} not in {folder} "
                f"(missing {', '.join(missing)}); fetch them with "
                f"`tiktok-analyzer models pull {analyzer}` where the internet is reachable"
            )
        return pinned, folder

    def status(self) -> dict[str, bool]:
        return {
            key: all((self.folder(key) / f.name).is_file() for f in pinned.files)
            for key, pinned in self.lock.items()
        }

    def pull(self, analyzer: str) -> list[Path]:
        """Download the pinned files (only where the internet is reachable)."""
        pinned = self.pinned(analyzer)
        folder = self.folder(analyzer)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for f in pinned.files:
            target = folder / f.name
            partial = target.with_suffix(target.suffix + ".part")
            with urllib.request.urlopen(f.url, timeout=60) as response, partial.open("wb") as out:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
            if f.sha256 and hashlib.sha256(partial.read_bytes()).hexdigest() != f.sha256:
                partial.unlink()
                raise ConfigError(f"checksum mismatch for {f.name} of {analyzer}")
            partial.replace(target)
            written.append(target)
        return written


def resolve_device(requested: str) -> str:
    """``auto`` means CUDA when torch sees a GPU, else CPU; torch is imported only if present."""
    if requested != "auto":
        return requested
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"
