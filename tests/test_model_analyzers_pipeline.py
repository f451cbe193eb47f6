"""Every model analyzer through both pipelines, loaded the production way from one model store.

The store holds the real pinned weights of ``ocr``, ``faces``, ``pose`` and ``hands`` (pulled
with ``ModelStore.pull`` into ``.cache/test-models`` and linked in) and tiny random models in the
official formats, under the lock's file names, for ``objects``, ``caption`` (BLIP-2),
``segmentation``, ``scene_labels`` and ``face_expression``. One synthesized 3 s clip (270x480,
the light group's size) carries a title and changing burned-in captions and the astronaut of
scikit-image's photograph. It goes (1) through Kafka: the session's gpu_heavy and gpu_light
services are swapped for processes pointed at this store, then restored; (2) through
``tiktok-analyzer analyze`` in a subprocess. Both reports must have every model analyzer's
section ``ok`` with records; the real weights must read the captions and find the face; the
random ones are only checked for structure. ``text_speech`` must run or say why it could not
(the store has no Whisper, so ``transcript`` is skipped).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from mediapipe_weights import astronaut, pulled_store
from plugin_helpers import pulled_model_store
from test_objects_model_store import write_random_yolo
from tiny_face_expression import FER_LABELS, write_tiny_face_expression
from tiny_vision_models import write_clip, write_segformer
from tiny_vlm import write_tiny_blip2
from video_synth import encode

from tiktok_analyzer.cli.main import EXIT_OK
from tiktok_analyzer.cli.services import ServiceSet
from tiktok_analyzer.cli.submit import read_reports, upload
from tiktok_analyzer.gpu_light.analyzers._text_tracks import normalise
from tiktok_analyzer.ingest.identity import video_id_for_file
from tiktok_analyzer.shared.contracts.topics import SERVICES, Service
from tiktok_analyzer.shared.runtime.models import ModelStore

REAL = ("ocr", "faces", "pose", "hands")
RANDOM = ("objects", "caption", "segmentation", "scene_labels")
# open_clip's smallest built-in architecture (43 M parameters, random weights here): a
# registered tiny config would exist only in this process, and the services and ``analyze``
# run in others; a built-in name keeps the production load path (``architecture`` setting).
CLIP_ARCHITECTURE = "ViT-S-32-alt"
SETTINGS = {"caption": {"max_new_tokens": 4},  # random text: a few tokens show the plumbing
            "scene_labels": {"architecture": CLIP_ARCHITECTURE}}

WIDTH, HEIGHT, FPS, SECONDS = 270, 480, 10, 3
TITLE = "BEST TACOS"
# Three different bottom-centre texts: what ocr's summary calls burned-in captions.
CAPTIONS = [(0.0, 1.0, "hello there"), (1.0, 2.0, "watch this"), (2.0, 3.0, "right now")]


def frame(i: int, photo: np.ndarray) -> np.ndarray:
    """The astronaut (a real face and upper body) mid-frame, the title at the top and the
    caption of the moment at the bottom, white on a black stroke in Pillow's own font."""
    from PIL import Image, ImageDraw, ImageFont

    t = i / FPS
    image = Image.new("RGB", (WIDTH, HEIGHT), (40, 90, 140))
    image.paste(Image.fromarray(photo), (0, 105))
    pen = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=24)
    texts = [(TITLE, 0.08), *((text, 0.88) for a, b, text in CAPTIONS if a <= t < b)]
    for text, y in texts:
        pen.text((WIDTH / 2, y * HEIGHT), text, font=font, fill="white", anchor="mm",
                 stroke_width=2, stroke_fill="black")
    return np.asarray(image)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from PIL import Image

    photo = np.asarray(Image.fromarray(astronaut()).resize((WIDTH, WIDTH)))
    folder = tmp_path_factory.mktemp("model-analyzers-clip")
    # A name of its own per run: ingest identifies a video by its bytes and name.
    return encode(folder / f"talking-{uuid.uuid4().hex[:8]}.mp4",
                  [frame(i, photo) for i in range(FPS * SECONDS)], fps=FPS)


@pytest.fixture(scope="module")
def model_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real weights linked from the pulled store (never copied: 110 MB), random ones built."""
    pulled = {"ocr": pulled_model_store("ocr"),
              **{key: pulled_store(key).root for key in ("faces", "pose", "hands")}}
    root = tmp_path_factory.mktemp("model-analyzers") / "models"
    store = ModelStore(root)
    for key, source_root in pulled.items():
        source = ModelStore(source_root).folder(key)
        store.folder(key).mkdir(parents=True)
        for f in store.pinned(key).files:
            (store.folder(key) / f.name).symlink_to(source / f.name)
        if (source / ".pinned.json").is_file():  # the revision pull recorded: not "stale"
            shutil.copy(source / ".pinned.json", store.folder(key) / ".pinned.json")
    write_random_yolo(store.folder("objects") / "yolov8n.pt")
    write_tiny_blip2(store.folder("caption"))
    write_segformer(store.folder("segmentation"))
    write_clip(store.folder("scene_labels"), CLIP_ARCHITECTURE)
    write_tiny_face_expression(store.folder("face_expression"))
    for key in (*REAL, *RANDOM, "face_expression"):
        assert store.inspect(key).state.value == "present", store.inspect(key)
    return root


def check_model_sections(sections: Mapping[str, Mapping[str, Any]]) -> None:
    """What the report of the clip must say, whichever pipeline made it."""
    store = ModelStore(Path("unused"))  # for the lock's model ids only
    for key in (*REAL, *RANDOM):
        section = sections[key]
        assert section["status"] == "ok", (key, section["reason"])
        assert section["records"], key
        # faces names its expression model after its detector's ("... + trpakov/...")
        assert section["model_id"].startswith(store.pinned(key).model_id), key

    # Real weights: the title and all three captions read back, the captions told apart.
    ocr = sections["ocr"]["summary"]
    read = {normalise(track["text"]) for track in ocr["tracks"]}
    wanted = {normalise(text) for text in (TITLE, *(c[2] for c in CAPTIONS))}
    assert wanted <= read, [track["readings"] for track in ocr["tracks"]]
    assert ocr["burned_in_captions"] and ocr["frames_seen"] == 2 * SECONDS

    # Real weights: the astronaut's face on every light frame, one at a time.
    faces = sections["faces"]
    assert faces["summary"]["max_simultaneous"] == 1
    assert all(len(r["detections"]) == 1 for r in faces["records"]), faces["records"]
    # The expression model (random weights) ran on each face: a distribution over its labels.
    for record in faces["records"]:
        (expression,) = record["expressions"]
        assert set(expression["scores"]) == set(FER_LABELS)
        assert sum(expression["scores"].values()) == pytest.approx(1.0, abs=0.01)
    assert faces["summary"]["largest_face_share"] > 0.005

    # Random weights: structure only.
    assert {r["kind"] for r in sections["caption"]["records"]} == {"frame"}
    assert all(isinstance(r["caption"], str) for r in sections["caption"]["records"])
    assert all(r["classes"] for r in sections["segmentation"]["records"])
    assert all(r["embedding"] for r in sections["scene_labels"]["records"])

    # No Whisper in the store: text_speech runs and says that transcript is what it lacks.
    text_speech = sections["text_speech"]
    assert text_speech["status"] == "ok", text_speech["reason"]
    unavailable = text_speech["summary"]["unavailable"]
    assert any("transcript" in why for why in unavailable.values()), unavailable


def _wait_ready(names: list[str], timeout: float = 120.0) -> None:
    """Until each service holds its partitions (readiness), so that the clip's time is not
    spent in the rebalance that replacing its consumers starts."""
    deadline = time.monotonic() + timeout
    pending = list(names)
    while pending:
        port = SERVICES[Service(pending[0])].obs_port
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz/ready", timeout=2).status_code == 200:
                pending.pop(0)
                continue
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"not ready in {timeout:.0f} s: {pending}"
        time.sleep(0.5)


@pytest.fixture
def model_services(services: ServiceSet, model_store: Path,
                   tmp_path: Path) -> Iterator[ServiceSet]:
    """gpu_heavy and gpu_light on the test store in the session's consumer groups, in place
    of the session's own (killed first, which frees their ports); those come back after."""
    swapped = ["gpu_heavy", "gpu_light"]
    env = {**services.env, "TIKTOK_MODEL_STORE": str(model_store),
           "TIKTOK_MODEL_DEVICE": "cpu", "TIKTOK_ANALYZERS_SETTINGS": json.dumps(SETTINGS)}
    for name in swapped:
        services.kill(name)
    try:
        with ServiceSet(swapped, log_dir=tmp_path / "services", env=env) as running:
            running.wait_ready()
            _wait_ready(swapped)
            yield running
    finally:
        services.restart(swapped)


@pytest.mark.infra
def test_every_model_analyzer_reports_through_kafka(model_services: ServiceSet,
                                                    clip: Path) -> None:
    upload(clip, key=f"{uuid.uuid4().hex[:8]}/{clip.name}")
    video_id = video_id_for_file(clip)
    found = asyncio.run(read_reports({video_id}, timeout=300, settle_s=3))
    (report,) = found[video_id]
    assert report.status == "complete", (report.status, report.missing)
    check_model_sections(json.loads(report.model_dump_json())["analyzers"])


def test_every_model_analyzer_reports_through_analyze(model_store: Path, clip: Path,
                                                      tmp_path: Path) -> None:
    env = {**os.environ, "TIKTOK_MODEL_STORE": str(model_store), "TIKTOK_MODEL_DEVICE": "cpu",
           "TIKTOK_ANALYZERS_SETTINGS": json.dumps(SETTINGS)}
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "tiktok_analyzer.cli.main", "analyze", str(clip), "--out",
         str(out)], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == EXIT_OK, result.stderr[-3000:]
    (path,) = out.glob("*.report.json")
    report = json.loads(path.read_text())
    assert report["status"] == "complete"
    check_model_sections(report["analyzers"])
