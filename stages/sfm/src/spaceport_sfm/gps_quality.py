"""How good the photos' GPS is, judged against what the photos themselves show.

The model from the photos alone is right up to a similarity (scale, rotation, translation) but
knows nothing of gravity; GPS knows the frame but may be poor (phone and point-and-shoot
receivers: fixes tens of metres off, altitudes that drift by tens of metres in a level flight).
Each cue covers the other's gap:

- vertical from the photos: a nadir survey's cameras look straight down (a gimbal holds them to
  gravity within a few degrees), so the mean viewing direction is down, when the viewing
  directions agree and the sparse ground lies across them. Handheld sets give no such cue; GPS
  altitude then sets the vertical.
- horizontal from GPS: a 2D similarity from the levelled model to the fixes (RANSAC, then least
  squares on the inliers); fixes beyond the outlier distance are jumps and get no prior.
- GPS altitude checked against the levelled model: a constant (barometric) offset is harmless and
  absorbed; a trend along the flight (drift) or a scatter far beyond the horizontal noise means
  the altitude cannot be trusted, and the heights come from the photos.

The result is one position prior (ENU metres) with its standard deviations per image, for the
pose-prior bundle adjustment in `georeference.py`. The tests above judge the GPS by the
residuals; the priors' deviations are the receiver's stated accuracy where the photos carry it
(`xmp.py`): residuals from a model the photos bent overstate the noise, and priors that loose let
weakly linked cameras drift (garfield: 3.6 m estimated, 2.3 m stated).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pycolmap

# Viewing directions this concentrated (mean resultant length) make a survey "nadir": 0.9 is
# reached by nadir shots with up to ~25 deg of spread, never by photos around an object.
_MIN_AXIS_CONCENTRATION = 0.9
# ... and the sparse ground's normal within this angle of the mean viewing direction.
_MAX_GROUND_TO_AXIS_DEG = 25.0
# Horizontal noise floor (metres): no fix is trusted below RTK grade.
MIN_SIGMA_H_M = 0.05
# Never call a fix an outlier closer than this: GPS noise correlated along the flight is partly
# absorbed by the alignment, so the residuals understate it.
_MIN_OUTLIER_M = 5.0
_OUTLIER_SIGMAS = 4.0  # ... or within this many standard deviations of the horizontal noise
# GPS altitude is trusted while its drift along the flight stays within this many horizontal
# standard deviations (vertical GNSS error is ~1.5-2x the horizontal) or _MIN_DRIFT_M.
_DRIFT_SIGMAS = 4.0
_MIN_DRIFT_M = 5.0
_VERTICAL_TO_HORIZONTAL = 2.0  # vertical prior deviation of a trusted altitude, in sigma_h
_RANSAC_PAIRS = 400
_NADIR_DEG = 20.0  # views within this of the mean viewing direction count as nadir
_MIN_GIMBAL_SD_RAD = math.radians(0.5)  # a gimbal holds the vertical no better than this
_MEDIAN_NORM_2D = math.sqrt(2.0 * math.log(2.0))  # median |r| of a 2D unit Gaussian


def repeated_fixes(names: list[str], positions: list) -> list[str]:
    """Photos (capture order) whose GPS latitude and longitude repeat the previous photo's
    exactly: a receiver without a new fix (phones indoors, under trees) writes its last one
    again, so the copy says where an earlier photo was taken, not this one."""
    return [
        name
        for name, before, now in zip(names[1:], positions, positions[1:], strict=False)
        if before is not None and now is not None and (before.lat, before.lon) == (now.lat, now.lon)
    ]


@dataclass(frozen=True)
class GpsAssessment:
    scale: float  # metres per model unit
    rotation: np.ndarray  # [3, 3] world (ENU) from model: levelling and heading
    translation: np.ndarray  # [3] ENU metres: enu = scale * rotation @ x + translation
    prior_positions: np.ndarray  # [N, 3] ENU metres the bundle adjustment pulls towards
    sigma_h_m: float  # horizontal standard deviation per axis of the priors
    sigma_v_m: float  # vertical standard deviation of the priors
    inliers: np.ndarray  # [N] bool: fixes within `outlier_m` horizontally of the model
    outlier_m: float
    vertical_source: str  # "photos" or "GPS altitude"
    altitude_trusted: bool
    altitude_drift_m: float  # trend of GPS altitude vs the model, first to last photo
    altitude_offset_m: float  # median of GPS altitude minus the model's height (before any shift)
    altitude_scatter_m: float  # robust deviation of GPS altitude about that trend
    sigma_source: str = "residuals"  # "receiver": the deviations are the stated accuracy


def stated_sigmas(fixes: list) -> tuple[float | None, float | None]:
    """(horizontal, vertical) standard deviation the receiver states for `fixes` (GeoPosition):
    the median over the fixes that state one, where at least half of them do; else None."""

    def median(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return float(np.median(known)) if known and 2 * len(known) >= len(values) else None

    return median([f.sigma_h_m for f in fixes]), median([f.sigma_v_m for f in fixes])


@dataclass(frozen=True)
class PhotoVertical:
    up: np.ndarray  # [3] unit vector, model frame
    sd_rad: float  # its standard error: the nadir views' spread over sqrt(their number)


def photo_up(
    axes: np.ndarray,  # [N, 3] viewing directions (camera +z) in the model frame
    points: np.ndarray,  # [P, 3] sparse points in the model frame
) -> PhotoVertical | None:
    """The up direction in the model frame as a nadir survey's photos show it, else None."""
    mean = axes.mean(axis=0)
    if np.linalg.norm(mean) < _MIN_AXIS_CONCENTRATION or len(points) < 10:
        return None
    down = mean / np.linalg.norm(mean)
    centred = points - np.median(points, axis=0)
    normal = np.linalg.svd(centred, full_matrices=False)[2][-1]
    if abs(normal @ down) < math.cos(math.radians(_MAX_GROUND_TO_AXIS_DEG)):
        return None
    angles = np.arccos(np.clip(axes @ down, -1.0, 1.0))
    nadir = angles < math.radians(_NADIR_DEG)  # obliques say little about the vertical
    down = axes[nadir].mean(axis=0)
    down /= np.linalg.norm(down)
    spread = np.arccos(np.clip(axes[nadir] @ down, -1.0, 1.0))
    sd = max(float(np.sqrt(np.mean(spread**2))), _MIN_GIMBAL_SD_RAD) / math.sqrt(nadir.sum())
    return PhotoVertical(-down, sd)


def rotation_to_up(up: np.ndarray) -> np.ndarray:
    """A rotation taking the unit vector `up` to +z (Rodrigues, about their cross product)."""
    z = np.array([0.0, 0.0, 1.0])
    axis = np.cross(up, z)
    s, c = float(np.linalg.norm(axis)), float(up @ z)
    if s < 1e-12:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    k = axis / s
    skew = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + s * skew + (1 - c) * skew @ skew


def _c(xy: np.ndarray) -> np.ndarray:  # [N, 2+] -> [N] complex x + iy
    return xy[:, 0] + 1j * xy[:, 1]


def _similarity_2d(src: np.ndarray, dst: np.ndarray) -> tuple[complex, complex]:
    """Least-squares dst = a * src + b over complex numbers (a: scale and rotation)."""
    ms, md = src.mean(), dst.mean()
    denom = float(np.sum(np.abs(src - ms) ** 2))
    a = complex(np.sum(np.conj(src - ms) * (dst - md)) / denom) if denom > 0 else 1.0 + 0j
    return a, complex(md - a * ms)


def fit_horizontal(
    src: np.ndarray, dst: np.ndarray, max_error_m: float, seed: int = 0
) -> tuple[complex, complex, np.ndarray]:
    """Robust 2D similarity dst = a * src + b ([N] complex each): MSAC over point pairs, then
    least squares on the inliers. Hand-written: pycolmap has no 2D similarity estimator, and a
    3D one on flat points may mirror them."""
    n = len(src)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    if len(pairs) > _RANSAC_PAIRS:
        pick = np.random.default_rng(seed).choice(len(pairs), _RANSAC_PAIRS, replace=False)
        pairs = [pairs[k] for k in pick]
    inliers, best_cost = np.ones(n, bool), math.inf
    for i, j in pairs:
        if abs(src[j] - src[i]) == 0:
            continue
        a = (dst[j] - dst[i]) / (src[j] - src[i])
        error = np.abs(a * (src - src[i]) + dst[i] - dst)
        cost = float(np.sum(np.minimum(error, max_error_m) ** 2))
        if cost < best_cost:
            inliers, best_cost = error < max_error_m, cost
    a, b = 1.0 + 0j, 0j
    for _ in range(3):  # refit on the inliers, re-select
        if inliers.sum() < 2:
            break
        a, b = _similarity_2d(src[inliers], dst[inliers])
        inliers = np.abs(a * src + b - dst) < max_error_m
    return a, b, inliers


def _robust_sigma(values: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(values - np.median(values)))) if len(values) else 0.0


def _outlier_limit(horizontal_residual: np.ndarray, inliers: np.ndarray, max_error_m: float):
    """(sigma_h, outlier distance) from the inliers' horizontal residuals [N] metres."""
    median = float(np.median(horizontal_residual[inliers])) if inliers.any() else max_error_m
    sigma_h = max(median / _MEDIAN_NORM_2D, MIN_SIGMA_H_M)
    return sigma_h, min(max_error_m, max(_OUTLIER_SIGMAS * sigma_h, _MIN_OUTLIER_M))


def _levelled_fit(centres, up, enu, max_error_m):
    """(scale, rotation, horizontal translation [2]) with the vertical from the photos."""
    level = rotation_to_up(up)
    src = _c(centres @ level.T)
    a, b, inliers = fit_horizontal(src, _c(enu), max_error_m)
    _, outlier_m = _outlier_limit(np.abs(a * src + b - _c(enu)), inliers, max_error_m)
    inliers = np.abs(a * src + b - _c(enu)) < outlier_m
    if inliers.sum() >= 2:
        a, b = _similarity_2d(src[inliers], _c(enu)[inliers])
    heading = math.atan2(a.imag, a.real)
    yaw = np.array(
        [
            [math.cos(heading), -math.sin(heading), 0.0],
            [math.sin(heading), math.cos(heading), 0.0],
            [0.0, 0.0, 1.0],
        ]
    )
    return abs(a), yaw @ level, np.array([b.real, b.imag, 0.0])


def _gps_fit(centres, enu, max_error_m):
    """(scale, rotation, translation) of a robust 3D similarity: the vertical from GPS."""
    ransac = pycolmap.RANSACOptions()
    ransac.max_error = max_error_m
    ransac.random_seed = 0
    found = pycolmap.estimate_sim3d_robust(centres, enu, ransac)
    if not found or found["num_inliers"] < 3:
        return None
    inliers = np.asarray(found["inlier_mask"], dtype=bool)
    refined = pycolmap.estimate_sim3d(centres[inliers], enu[inliers]) or found["tgt_from_src"]
    return float(refined.scale), refined.rotation.matrix(), np.asarray(refined.translation)


def assess_gps(
    centres: np.ndarray,  # [N, 3] camera centres, model frame, capture order
    axes: np.ndarray,  # [N, 3] viewing directions, model frame
    points: np.ndarray,  # [P, 3] sparse points, model frame
    enu: np.ndarray,  # [N, 3] GPS fixes in ENU metres
    *,
    has_altitude: bool,
    max_error_m: float,
    stated_h_m: float | None = None,
    stated_v_m: float | None = None,
) -> GpsAssessment | None:
    """The alignment, priors and quality figures; None when no similarity fits the fixes.
    `stated_h_m`, `stated_v_m`: the receiver's stated deviations (`stated_sigmas`), which the
    priors then carry."""
    vertical = photo_up(axes, points)
    up = vertical.up if vertical is not None else None
    fit = _levelled_fit(centres, up, enu, max_error_m) if up is not None else None
    fit = fit or _gps_fit(centres, enu, max_error_m)
    if fit is None:
        return None
    scale, rotation, translation = fit
    model_enu = scale * centres @ rotation.T + translation  # [N, 3]
    horizontal = np.linalg.norm(model_enu[:, :2] - enu[:, :2], axis=1)
    sigma_h, outlier_m = _outlier_limit(horizontal, horizontal < max_error_m, max_error_m)
    inliers = horizontal < outlier_m
    use = inliers if inliers.sum() >= 3 else np.ones(len(enu), bool)

    # GPS altitude against the model's heights, along the flight (capture order)
    gap = enu[:, 2] - model_enu[:, 2]  # [N]
    index = np.arange(len(enu), dtype=np.float64)
    slope, intercept = np.polyfit(index[use], gap[use], 1) if use.sum() >= 3 else (0.0, 0.0)
    drift = float(slope * (len(enu) - 1))
    scatter = _robust_sigma((gap - slope * index - intercept)[use])
    offset = float(np.median(gap[use]))
    if up is not None:
        translation = translation + np.array([0.0, 0.0, offset])
        model_enu[:, 2] += offset
        # a receiver's stated vertical accuracy, where given, sets the bound as the
        # horizontal noise does: the model's own height errors widen the scatter too
        vertical_h = max(sigma_h, stated_v_m or 0.0)
        tolerance = max(_DRIFT_SIGMAS * vertical_h, _MIN_DRIFT_M)
        trusted = has_altitude and abs(drift) <= tolerance and scatter <= tolerance / 2
    else:
        trusted = has_altitude  # the fit took its vertical from it: nothing to judge it by

    priors = enu.copy()
    sigma_v = max(_VERTICAL_TO_HORIZONTAL * sigma_h, scatter)
    prior_h = sigma_h
    if stated_h_m is not None:
        prior_h = max(stated_h_m, MIN_SIGMA_H_M)
        sigma_v = stated_v_m or _VERTICAL_TO_HORIZONTAL * prior_h
    # a trusted GPS altitude levels the model only where it does so better than the photos:
    # its tilt error is about sigma_v over the flight's horizontal extent and sqrt(N)
    extent = float(np.sqrt(np.mean(np.sum((enu[:, :2] - enu[:, :2].mean(0)) ** 2, axis=1))))
    gps_tilt_sd = sigma_v / max(extent, 1e-6) / math.sqrt(use.sum())
    level_by_gps = trusted and (vertical is None or gps_tilt_sd < vertical.sd_rad)
    if trusted and not level_by_gps:  # the photos' heights at the GPS altitude's level
        priors[:, 2] = model_enu[:, 2]
        sigma_v = prior_h
    elif not trusted:
        # the heights the photos show, at the level of the GPS altitude where its drift began
        # (the first photo: the trend's intercept), where it is nearest the truth
        if up is not None:
            shift = intercept - offset
            translation = translation + np.array([0.0, 0.0, shift])
            model_enu[:, 2] += shift
        priors[:, 2] = model_enu[:, 2]
        sigma_v = prior_h
    return GpsAssessment(
        scale=float(scale),
        rotation=rotation,
        translation=translation,
        prior_positions=priors,
        sigma_h_m=float(prior_h),
        sigma_v_m=float(sigma_v),
        inliers=inliers,
        outlier_m=float(outlier_m),
        vertical_source="GPS altitude" if level_by_gps or up is None else "photos",
        altitude_trusted=bool(trusted),
        altitude_drift_m=drift,
        altitude_offset_m=offset,
        altitude_scatter_m=scatter,
        sigma_source="receiver" if stated_h_m is not None else "residuals",
    )
