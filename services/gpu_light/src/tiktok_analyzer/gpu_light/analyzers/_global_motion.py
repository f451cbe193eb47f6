"""The camera's motion between two luma thumbnails (the sampler's signals), robust to things
moving in front of it.

Pyramidal Lucas-Kanade optical flow (OpenCV) tracks a grid of points, one every 4 cells, from
one thumbnail to the next; points without texture to track are dropped by the tracker itself
(its minimum-eigenvalue test). A similarity (shift, zoom, rotation) is fitted to the tracks
with RANSAC, so points on something that moves otherwise (a person walking through, a waving
hand) are left out as long as most of the textured picture follows the camera. On the 64-cell
thumbnails the fit reads pans, zooms and rotations within a few percent (the tests' synthetic
camera moves), in about 0.2 ms a frame pair.

The model: the content at ``x`` (cells, from the thumbnail's centre, y down) in the earlier
frame is at ``x + t + [[a, -b], [b, a]] x`` in the later one: ``a > 0``, the picture grows
(zoom in); ``b > 0``, it turns clockwise on screen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPACING = 4  # cells between tracked points
MIN_TRACKS = 6
RANSAC_CELLS = 0.3  # a track further than this from the fitted motion is an outlier


@dataclass(frozen=True)
class Motion:
    """Shift ``tx, ty`` (cells), zoom ``a`` and rotation ``b`` (radians) from one frame to the
    next; ``support``: the share of tracked points that follow it (0: nothing measured)."""

    tx: float
    ty: float
    a: float
    b: float
    support: float

    @property
    def measured(self) -> bool:
        return self.support > 0


NONE = Motion(0.0, 0.0, 0.0, 0.0, 0.0)


class GlobalMotion:
    """The estimator for thumbnails of one size (``height`` x ``width`` cells)."""

    def __init__(self, height: int, width: int) -> None:
        ys, xs = np.mgrid[SPACING:height - SPACING + 1:SPACING,
                          SPACING:width - SPACING + 1:SPACING]
        self.points = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)[:, None, :]
        self.centre = np.array([(width - 1) / 2, (height - 1) / 2])

    def estimate(self, before: np.ndarray, after: np.ndarray) -> Motion:
        import cv2

        if len(self.points) < MIN_TRACKS:
            return NONE
        tracked, status, _error = cv2.calcOpticalFlowPyrLK(
            before, after, self.points, np.empty_like(self.points), winSize=(9, 9), maxLevel=2,
            criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 10, 0.01))
        found = status.ravel() == 1
        if found.sum() < MIN_TRACKS:
            return NONE
        matrix, inliers = cv2.estimateAffinePartial2D(
            self.points[found], tracked[found], method=cv2.RANSAC,
            ransacReprojThreshold=RANSAC_CELLS, maxIters=500, confidence=0.995)
        if matrix is None:
            return NONE
        # The fitted map is p -> M[:, :2] p + M[:, 2] in cell coordinates; from the centre c,
        # the shift of the centre is M[:, :2] c + M[:, 2] - c.
        shift = matrix[:, :2] @ self.centre + matrix[:, 2] - self.centre
        return Motion(float(shift[0]), float(shift[1]), float(matrix[0, 0] - 1),
                      float(matrix[1, 0]), float(inliers.sum() / found.sum()))
