"""What ``hook`` and ``pacing`` both read: the cuts and the motion curve.

Cuts come from the ``shots`` analyzer when it ran (its summary's ``shot_starts_s``), else from
the sampler's shot starts in the manifest, and the result says which. Motion comes from the
``motion`` analyzer's records (``t`` and ``intensity``, one per sampled second). Both are read
through views of the few fields used, so these helpers do not import those modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from tiktok_analyzer.shared.runtime.report_analyzers import Read, ReportInputs

CutsSource = Literal["shots", "sampler"]


class ShotStartsView(BaseModel):
    """The part of the ``shots`` summary read here."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    shot_starts_s: list[float]


class MotionSample(BaseModel):
    """The part of a ``motion`` record read here."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    t: float
    intensity: float


@dataclass(frozen=True)
class Cuts:
    times: list[float]
    """Every shot change (a shot start after 0), seconds."""
    source: CutsSource


def cuts(inputs: ReportInputs) -> Cuts | None:
    """The video's cuts, or None when it has no video stream."""
    shots = inputs.summary("shots", ShotStartsView)
    if shots.value is not None:
        return Cuts(sorted(t for t in shots.value.shot_starts_s if t > 0), "shots")
    if inputs.video.width is None:
        return None
    return Cuts(sorted(t for t in inputs.video.shot_starts_s if t > 0), "sampler")


def motion(inputs: ReportInputs) -> Read[list[MotionSample]]:
    return inputs.records("motion", MotionSample)


def mean_between(samples: Sequence[MotionSample], start: float, end: float) -> float | None:
    values = [s.intensity for s in samples if start <= s.t < end]
    return round(sum(values) / len(values), 4) if values else None
