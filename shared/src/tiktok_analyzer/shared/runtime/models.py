"""The local model store: one folder, one subfolder per analyzer, pinned by a lock file.

The lock (``models.lock.toml`` in this package, or the file ``TIKTOK_MODEL_LOCK`` names)
pins, for every weight-bearing analyzer, the model id, the revision and the files, with
checksums where known. ``tiktok-analyzer models pull`` fetches them where the internet is
reachable; at run time nothing is downloaded: analyzers ask the store for their folder and get
``WeightsMissing`` (with the command that fetches them) when the files are absent, and the
runner switches the model libraries to offline mode before any of them is imported.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path

from tiktok_analyzer.shared.errors import ConfigError, WeightsMissing

# Read by huggingface_hub and transformers when they are first imported, so they must be set
# before that; ``enforce_offline`` runs before any analyzer loads.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "YOLO_OFFLINE": "1",
}
MARKER = ".pinned.json"  # written by pull: which model id and revision the folder holds
HF_RESOLVE = "https://huggingface.co/{model_id}/resolve/{revision}/{name}"


def enforce_offline() -> None:
    """Model libraries never reach the internet at run time: no hub lookups, no telemetry."""
    os.environ.update(OFFLINE_ENV)


@dataclass(frozen=True)
class PinnedFile:
    name: str
    url: str
    sha256: str | None = None  # of the file as stored (for an archive: of the archive)
    archive: str | None = None  # "zip": the URL is a zip holding ``name``


@dataclass(frozen=True)
class PinnedModel:
    analyzer: str
    model_id: str
    revision: str
    format: str
    files: tuple[PinnedFile, ...]
    note: str = ""


def load_lock(text: str | None = None) -> dict[str, PinnedModel]:
    if text is None:
        override = os.environ.get("TIKTOK_MODEL_LOCK")
        text = (Path(override).read_text() if override else
                resources.files("tiktok_analyzer.shared.runtime").joinpath("models.lock.toml").read_text())
    raw = tomllib.loads(text)
    lock = {}
    for key, entry in raw.items():
        model_id, revision = entry["model_id"], entry["revision"]
        files = []
        for f in entry["files"]:
            url = f.get("url") or (HF_RESOLVE.format(model_id=model_id, revision=revision,
                                                     name=f["name"])
                                   if entry.get("source") == "huggingface" else None)
            if not url:
                raise ConfigError(f"lock entry {key!r}: file {f['name']!r} has no url")
            if f.get("archive") not in (None, "zip"):
                raise ConfigError(f"lock entry {key!r}: unknown archive kind {f['archive']!r}")
            files.append(PinnedFile(name=f["name"], url=url, sha256=f.get("sha256"),
                                    archive=f.get("archive")))
        lock[key] = PinnedModel(analyzer=key, model_id=model_id, revision=revision,
                                format=entry["format"], files=tuple(files),
                                note=entry.get("note", ""))
    return lock


class FolderState(StrEnum):
    PRESENT = "present"
    MISSING = "missing"
    PARTIAL = "partial"
    STALE = "stale"  # holds another revision than the lock pins
    CORRUPT = "corrupt"  # a checksum does not match (only found by ``verify``)


@dataclass(frozen=True)
class ModelStatus:
    analyzer: str
    pinned: PinnedModel
    folder: Path
    state: FolderState
    detail: str = ""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


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

    def inspect(self, analyzer: str, verify: bool = False) -> ModelStatus:
        pinned, folder = self.pinned(analyzer), self.folder(analyzer)
        missing = [f.name for f in pinned.files if not (folder / f.name).is_file()]

        def status(state: FolderState, detail: str = "") -> ModelStatus:
            return ModelStatus(analyzer, pinned, folder, state, detail)

        if len(missing) == len(pinned.files):
            return status(FolderState.MISSING)
        if missing:
            return status(FolderState.PARTIAL, f"missing {', '.join(missing)}")
        marker = folder / MARKER
        if marker.is_file():
            held = json.loads(marker.read_text())
            if (held.get("model_id"), held.get("revision")) != (pinned.model_id, pinned.revision):
                return status(FolderState.STALE,
                              f"holds {held.get('model_id')}@{held.get('revision')}")
        if verify:
            for f in pinned.files:
                if f.sha256 and not f.archive and sha256_of(folder / f.name) != f.sha256:
                    return status(FolderState.CORRUPT, f"checksum of {f.name} differs")
        return status(FolderState.PRESENT)

    def require(self, analyzer: str) -> tuple[PinnedModel, Path]:
        """The pinned model and its folder, or ``WeightsMissing`` saying how to fetch it."""
        found = self.inspect(analyzer)
        if found.state is not FolderState.PRESENT:
            pinned = found.pinned
            detail = f": {found.detail}" if found.detail else ""
            raise WeightsMissing(
                f"weights for {pinned.model_id}@{pinned.revision} are {found.state} in "
                f"{found.folder}{detail}; fetch them with "
                f"`tiktok-analyzer models pull {analyzer}` where the internet is reachable"
            )
        return found.pinned, found.folder

    def status(self, verify: bool = False) -> list[ModelStatus]:
        return [self.inspect(key, verify) for key in sorted(self.lock)]

    def pull(self, analyzer: str, progress: Callable[[str], None] = print) -> list[Path]:
        """Download the pinned files (only where the internet is reachable). Each file lands
        under a temporary name and is renamed once its checksum (where pinned) matches, so a
        broken download never looks present."""
        pinned = self.pinned(analyzer)
        folder = self.folder(analyzer)
        folder.mkdir(parents=True, exist_ok=True)
        stale = self.inspect(analyzer).state is FolderState.STALE
        written = []
        for f in pinned.files:
            target = folder / f.name
            if not stale and target.is_file() and (f.sha256 is None or f.archive
                                                   or sha256_of(target) == f.sha256):
                progress(f"{analyzer}: {f.name} already present")
                written.append(target)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            # An archive downloads under its own name: extraction writes ``<name>.part``.
            partial = target.with_name(target.name + (".zip.part" if f.archive else ".part"))
            progress(f"{analyzer}: fetching {f.url}")
            with urllib.request.urlopen(f.url, timeout=60) as response, partial.open("wb") as out:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
            if f.sha256 and sha256_of(partial) != f.sha256:
                partial.unlink()
                raise ConfigError(f"checksum mismatch for {f.name} of {analyzer}")
            if f.archive == "zip":
                extract_member(partial, f.name, target)
                partial.unlink()
            else:
                partial.replace(target)
            written.append(target)
        (folder / MARKER).write_text(json.dumps(
            {"model_id": pinned.model_id, "revision": pinned.revision}))
        return written


def extract_member(archive: Path, name: str, target: Path) -> None:
    """Copy the one member called ``name`` (at any depth) out of a zip; nothing else of the
    archive touches the disk, so its paths can never escape the store."""
    with zipfile.ZipFile(archive) as z:
        members = [m for m in z.infolist() if Path(m.filename).name == name and not m.is_dir()]
        if len(members) != 1:
            raise ConfigError(f"{archive.name} holds {len(members)} files named {name}")
        partial = target.with_name(target.name + ".part")
        with z.open(members[0]) as src, partial.open("wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
        partial.replace(target)


def resolve_device(requested: str) -> str:
    """``auto`` means CUDA when torch sees a GPU, else CPU; torch is imported only if present."""
    if requested != "auto":
        return requested
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"
