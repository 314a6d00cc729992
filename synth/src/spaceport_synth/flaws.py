"""What real flights add to a perfect survey, each an option of `generate(..., flaws=Flaws(...))`:
a receiver's GPS errors (noise correlated along the flight, a barometric altitude offset, an
altitude that drifts, fixes thrown tens of metres off), a lens with radial distortion, a camera
that writes no 35 mm-equivalent focal length, and a sparser flight plan.

The ground truth keeps the true poses; only the EXIF GPS and the pixels carry the flaws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Flaws:
    gps_noise_m: float = 0.0  # horizontal standard deviation of each fix, metres
    gps_vertical_noise_m: float = 0.0  # vertical standard deviation, metres
    gps_noise_correlation_shots: float = 5.0  # e-folding length of the noise along the flight
    altitude_offset_m: float = 0.0  # constant (barometric) offset of every GPS altitude
    altitude_drift_m: float = 0.0  # GPS altitude climbs by this much from first to last photo
    gps_jumps: int = 0  # this many fixes (never the first two) are thrown off horizontally
    gps_jump_m: float = 40.0  # by this distance, in a random direction
    radial_k1: float = 0.0  # SIMPLE_RADIAL k1 of the lens (> 0: pincushion)
    focal_35mm_tag: bool = True  # False: EXIF has FocalLength + FocalPlane*Resolution only
    # True: EXIF's GPSHPositioningError states `gps_noise_m`, as phones and some receivers do
    gps_accuracy_tag: bool = False
    forward_overlap: float | None = None  # None: the preset's
    side_overlap: float | None = None

    @property
    def any_gps_error(self) -> bool:
        return bool(
            self.gps_noise_m
            or self.gps_vertical_noise_m
            or self.altitude_offset_m
            or self.altitude_drift_m
            or self.gps_jumps
        )


NO_FLAWS = Flaws()


def gps_errors(flaws: Flaws, count: int, rng: np.random.Generator) -> np.ndarray:
    """[count, 3] ENU metres to add to the true camera centres, in capture order."""
    errors = np.zeros((count, 3))
    if flaws.gps_noise_m or flaws.gps_vertical_noise_m:
        # AR(1): stationary with the stated deviation, correlated over the stated length
        rho = math.exp(-1.0 / max(flaws.gps_noise_correlation_shots, 1e-6))
        sigma = np.array([flaws.gps_noise_m, flaws.gps_noise_m, flaws.gps_vertical_noise_m])
        state = rng.normal(0.0, 1.0, 3)
        for k in range(count):
            errors[k] = sigma * state
            state = rho * state + math.sqrt(1.0 - rho**2) * rng.normal(0.0, 1.0, 3)
    errors[:, 2] += flaws.altitude_offset_m
    errors[:, 2] += flaws.altitude_drift_m * np.linspace(0.0, 1.0, count)
    if flaws.gps_jumps:
        size = min(flaws.gps_jumps, count - 2)
        jumped = rng.choice(np.arange(2, count), size=size, replace=False)
        angles = rng.uniform(0.0, 2.0 * math.pi, len(jumped))
        errors[jumped, 0] += flaws.gps_jump_m * np.cos(angles)
        errors[jumped, 1] += flaws.gps_jump_m * np.sin(angles)
    return errors


def distort(image: np.ndarray, fx: float, fy: float, cx: float, cy: float, k1: float) -> np.ndarray:
    """The pinhole `image` [H, W, 3] uint8 as a lens with radial distortion `k1` sees it.

    A distorted pixel at normalised (xd, yd) shows the pinhole point (xu, yu) with
    xd = xu (1 + k1 ru^2) (COLMAP's SIMPLE_RADIAL); for k1 > 0 every such point lies inside the
    pinhole frame, so bilinear resampling needs nothing outside it.
    """
    if k1 == 0.0:
        return image
    h, w = image.shape[:2]
    xd = (np.arange(w) + 0.5 - cx) / fx
    yd = (np.arange(h) + 0.5 - cy) / fy
    xd, yd = np.meshgrid(xd, yd)
    xu, yu = xd.copy(), yd.copy()
    for _ in range(20):  # fixed point of xu = xd / (1 + k1 ru^2); converges for small k1
        factor = 1.0 + k1 * (xu**2 + yu**2)
        xu, yu = xd / factor, yd / factor
    col = np.clip(xu * fx + cx - 0.5, 0, w - 1)
    row = np.clip(yu * fy + cy - 0.5, 0, h - 1)
    c0, r0 = np.floor(col).astype(int), np.floor(row).astype(int)
    c1, r1 = np.minimum(c0 + 1, w - 1), np.minimum(r0 + 1, h - 1)
    a, b = (col - c0)[..., None], (row - r0)[..., None]
    src = image.astype(np.float64)
    top = src[r0, c0] * (1 - a) + src[r0, c1] * a
    bottom = src[r1, c0] * (1 - a) + src[r1, c1] * a
    return np.clip(top * (1 - b) + bottom * b + 0.5, 0, 255).astype(np.uint8)
