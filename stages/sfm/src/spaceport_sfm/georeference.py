"""Put the model into local ENU metres (x east, y north, z up) around a stated geographic origin.

The photos' GPS is judged against the model first (`gps_quality.py`: outlying fixes, a drifting
altitude, the vertical from the photos where GPS altitude cannot be trusted); the model is moved
onto the result and then adjusted with one position prior per trusted fix inside a pose-prior
bundle adjustment (horizontal tighter than vertical, the receiver's stated accuracy where the
photos carry it, robust loss), so the GPS straightens the model rather than only being fitted
afterwards. WGS84 <-> ENU conversions use COLMAP's own
`GPSTransform`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pycolmap

from spaceport_sfm.exif import GeoPosition
from spaceport_sfm.gps_quality import GpsAssessment, assess_gps, stated_sigmas
from spaceport_shared.errors import SpaceportError

FORMAT = "spaceport-georeference/1"
_MIN_SPREAD_M = 1.0  # GPS positions closer together than this cannot fix a scale


@dataclass(frozen=True)
class GeoOrigin:
    lat: float  # degrees, WGS84
    lon: float  # degrees, WGS84
    alt: float  # metres, as the cameras' GPS altitude


@dataclass(frozen=True)
class ResidualFigures:
    """Camera centre minus GPS fix over the registered images with GPS, metres."""

    rms_m: float
    median_m: float
    p95_m: float
    horizontal_rms_m: float
    horizontal_median_m: float
    horizontal_p95_m: float
    vertical_rms_m: float
    vertical_median_m: float  # of |vertical|
    vertical_p95_m: float


@dataclass(frozen=True)
class Georeference:
    origin: GeoOrigin
    origin_rule: str
    scale: float  # metres per unit of the unaligned model
    residual_rms_m: float  # camera centre vs its GPS position, over all images with GPS
    residual_median_m: float
    images_aligned: int  # registered images with GPS
    inliers: int  # of those, within the outlier distance of their fix horizontally
    has_altitude: bool
    residuals: ResidualFigures
    outlier_m: float  # fixes further than this horizontally are outliers (no prior)
    outliers: list[str]  # their image names, capture order
    gps_sigma_h_m: float  # horizontal deviation of the fixes' priors, per axis
    gps_sigma_v_m: float  # ... and vertical
    gps_sigma_source: str  # "receiver" (its stated accuracy) or "residuals" (estimated)
    vertical_source: str  # "photos" or "GPS altitude"
    altitude_trusted: bool
    altitude_drift_m: float
    altitude_offset_m: float
    altitude_scatter_m: float
    ground_tilt_deg: float | None  # sparse ground's best-fit plane vs level, None if no plane

    @property
    def inlier_share(self) -> float:
        return self.inliers / self.images_aligned


def enu_from_gps(positions: list[GeoPosition], origin: GeoOrigin | None = None) -> np.ndarray:
    """[N, 3] ENU metres of `positions` around `origin` (default: their mean)."""
    lla = np.array([[p.lat, p.lon, p.alt] for p in positions], dtype=np.float64)
    if origin is None:
        origin = GeoOrigin(*lla.mean(axis=0))
    return np.asarray(
        pycolmap.GPSTransform().ellipsoid_to_enu(lla, origin.lat, origin.lon, origin.alt)
    )


def gps_from_enu(enu: np.ndarray, origin: GeoOrigin) -> np.ndarray:  # [N, 3] -> [N, 3] lat,lon,alt
    return np.asarray(
        pycolmap.GPSTransform().enu_to_ellipsoid(
            np.asarray(enu, np.float64), origin.lat, origin.lon, origin.alt
        )
    )


def choose_origin(rule: str, positions: list[GeoPosition]) -> GeoOrigin:
    """`rule` is "mean", "first" (first in capture order) or "LAT,LON,ALT"."""
    key = rule.strip().lower()
    if key == "mean":
        lla = np.array([[p.lat, p.lon, p.alt] for p in positions])
        return GeoOrigin(*(float(v) for v in lla.mean(axis=0)))
    if key == "first":
        first = positions[0]
        return GeoOrigin(first.lat, first.lon, first.alt)
    return parse_origin(rule)


def parse_origin(rule: str) -> GeoOrigin | None:
    """The stated origin of an "origin" setting; None for the rules "mean" and "first"."""
    if rule.strip().lower() in ("mean", "first"):
        return None
    parts = [p.strip() for p in rule.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (2, 3) or not all(math.isfinite(v) for v in values):
        raise SpaceportError(
            f"Setting 'origin' must be mean, first or LAT,LON[,ALT] in degrees and metres, "
            f"not '{rule}'."
        )
    if abs(values[0]) > 90 or abs(values[1]) > 180:
        raise SpaceportError(f"Setting 'origin' holds an impossible latitude/longitude: '{rule}'.")
    return GeoOrigin(values[0], values[1], values[2] if len(values) == 3 else 0.0)


@dataclass(frozen=True)
class GpsAlignment:
    """The model moved onto the photos' GPS, before the pose-prior adjustment."""

    origin: GeoOrigin
    origin_rule: str
    names: list[str]  # registered images with GPS, capture order
    target: np.ndarray  # [N, 3] their fixes, ENU metres
    has_altitude: bool
    gps: GpsAssessment

    def priors(
        self, model: pycolmap.Reconstruction, keep: np.ndarray, sigma_h_m: float
    ) -> list[pycolmap.PosePrior]:
        """Position priors of the fixes where `keep` [N] holds, horizontal deviation
        `sigma_h_m`, vertical as assessed."""
        by_name = {img.name: img for img in model.images.values()}
        return [
            _prior(by_name[name], position, sigma_h_m, self.gps.sigma_v_m)
            for name, position, ok in zip(self.names, self.gps.prior_positions, keep, strict=True)
            if ok
        ]

    def horizontal_residuals(self, model: pycolmap.Reconstruction) -> np.ndarray:  # [N] metres
        by_name = {img.name: img for img in model.images.values()}
        centres = np.array([by_name[n].projection_center() for n in self.names])
        return np.linalg.norm(centres[:, :2] - self.target[:, :2], axis=1)


def align_to_gps(
    model: pycolmap.Reconstruction,
    gps_by_name: dict[str, GeoPosition],
    capture_order: list[str],
    *,
    origin_rule: str,
    max_error_m: float,
) -> tuple[GpsAlignment | None, str]:
    """Move `model` in place into ENU metres by the GPS as judged against the photos; return
    the alignment with its position priors, or None and the reason why not."""
    by_name = {img.name: img for img in model.images.values() if img.has_pose}
    images = [by_name[n] for n in capture_order if n in by_name and n in gps_by_name]
    if len(images) < 3:
        return None, f"only {len(images)} registered images carry GPS (3 needed)"
    positions = [gps_by_name[img.name] for img in images]
    origin = choose_origin(origin_rule, positions)
    target = enu_from_gps(positions, origin)  # [N, 3]
    spread = np.linalg.svd(target - target.mean(axis=0), compute_uv=False) / math.sqrt(len(target))
    if spread[0] < _MIN_SPREAD_M:
        return None, f"the GPS positions lie within {spread[0]:.2f} m of each other"
    has_altitude = all(p.has_alt for p in positions)
    stated_h, stated_v = stated_sigmas(positions)
    found = assess_gps(
        np.array([img.projection_center() for img in images]),
        np.array([img.viewing_direction() for img in images]),
        _points(model),
        target,
        has_altitude=has_altitude,
        max_error_m=max_error_m,
        stated_h_m=stated_h,
        stated_v_m=stated_v,
    )
    if found is None:
        return None, f"no similarity transform fits the GPS positions within {max_error_m} m"
    model.transform(
        pycolmap.Sim3d(found.scale, pycolmap.Rotation3d(found.rotation), found.translation)
    )
    names = [img.name for img in images]
    return GpsAlignment(origin, origin_rule, names, target, has_altitude, found), ""


def measure_georeference(
    model: pycolmap.Reconstruction, alignment: GpsAlignment, inliers: np.ndarray
) -> Georeference:
    """How well the (adjusted) model in ENU metres agrees with the GPS; `inliers` [N]: the
    fixes within the outlier distance after the adjustment."""
    by_name = {img.name: img for img in model.images.values()}
    error = np.array([by_name[n].projection_center() for n in alignment.names]) - alignment.target
    figures = residual_figures(error)
    found = alignment.gps
    origin = alignment.origin
    return Georeference(
        origin=origin,
        origin_rule=alignment.origin_rule,
        scale=found.scale,
        residual_rms_m=figures.rms_m,
        residual_median_m=figures.median_m,
        images_aligned=len(alignment.names),
        inliers=int(inliers.sum()),
        has_altitude=alignment.has_altitude,
        residuals=figures,
        outlier_m=found.outlier_m,
        outliers=[n for n, ok in zip(alignment.names, inliers, strict=True) if not ok],
        gps_sigma_h_m=found.sigma_h_m,
        gps_sigma_v_m=found.sigma_v_m,
        gps_sigma_source=found.sigma_source,
        vertical_source=found.vertical_source,
        altitude_trusted=found.altitude_trusted,
        altitude_drift_m=found.altitude_drift_m,
        altitude_offset_m=found.altitude_offset_m,
        altitude_scatter_m=found.altitude_scatter_m,
        ground_tilt_deg=ground_tilt_deg(_points(model)),
    )


def _points(model: pycolmap.Reconstruction) -> np.ndarray:  # [P, 3]
    return np.array([p.xyz for p in model.points3D.values()]).reshape(-1, 3)


def _prior(image: pycolmap.Image, position: np.ndarray, sigma_h: float, sigma_v: float):
    prior = pycolmap.PosePrior()
    prior.corr_data_id = image.data_id
    prior.position = np.asarray(position, np.float64)
    prior.position_covariance = np.diag([sigma_h**2, sigma_h**2, sigma_v**2])
    prior.coordinate_system = pycolmap.PosePriorCoordinateSystem.CARTESIAN
    return prior


def residual_figures(error: np.ndarray) -> ResidualFigures:
    """Figures of the [N, 3] ENU errors (model minus GPS), metres."""
    full = np.linalg.norm(error, axis=1)
    horizontal = np.linalg.norm(error[:, :2], axis=1)
    vertical = np.abs(error[:, 2])

    def rms(v: np.ndarray) -> float:
        return float(np.sqrt(np.mean(v**2)))

    return ResidualFigures(
        rms_m=rms(full),
        median_m=float(np.median(full)),
        p95_m=float(np.percentile(full, 95)),
        horizontal_rms_m=rms(horizontal),
        horizontal_median_m=float(np.median(horizontal)),
        horizontal_p95_m=float(np.percentile(horizontal, 95)),
        vertical_rms_m=rms(vertical),
        vertical_median_m=float(np.median(vertical)),
        vertical_p95_m=float(np.percentile(vertical, 95)),
    )


def ground_tilt_deg(points: np.ndarray) -> float | None:
    """Angle of the sparse points' best-fit plane (robust to a few far points) from level."""
    if len(points) < 10:
        return None
    centred = points - np.median(points, axis=0)
    spread = np.linalg.norm(centred, axis=1)
    near = centred[spread <= np.percentile(spread, 90)]
    singular, vectors = np.linalg.svd(near, full_matrices=False)[1:]
    if singular[-1] > 0.5 * singular[-2]:  # no dominant plane (e.g. a building facade set)
        return None
    return float(np.degrees(np.arccos(min(1.0, abs(vectors[-1][2])))))


_TILT_WARNING_DEG = 15.0  # steeper ground than this is worth a look (a slope, or a tilt)
_MIN_INLIER_SHARE = 0.5


@dataclass(frozen=True)
class Verdict:
    warnings: list[str]  # one sentence each
    untrustworthy: str  # why the georeference cannot be trusted, "" when it can


def judge(geo: Georeference, max_error_m: float) -> Verdict:
    """What a user must know about the georeference, each in one sentence."""
    warnings = []
    if geo.outliers:
        listed = ", ".join(geo.outliers[:10]) + (" ..." if len(geo.outliers) > 10 else "")
        warnings.append(
            f"{len(geo.outliers)} of {geo.images_aligned} GPS fixes disagree with the photos by "
            f"more than {geo.outlier_m:.1f} m ({listed}): they were left out of the georeference"
        )
    if geo.has_altitude and not geo.altitude_trusted:
        warnings.append(
            f"the GPS altitude drifts by {geo.altitude_drift_m:+.1f} m along the flight "
            f"(scatter {geo.altitude_scatter_m:.1f} m) where the photos show none: heights and "
            "level come from the photos, the GPS altitude only sets the height where the "
            "flight began"
        )
    if geo.ground_tilt_deg is not None and geo.ground_tilt_deg > _TILT_WARNING_DEG:
        warnings.append(
            f"the ground's best-fit plane lies {geo.ground_tilt_deg:.0f} deg from level: "
            "a slope, or a tilted model"
        )
    untrustworthy = ""
    if geo.inlier_share < _MIN_INLIER_SHARE:
        untrustworthy = (
            f"only {geo.inliers} of {geo.images_aligned} photos sit within {geo.outlier_m:.1f} m "
            "of their GPS fix, so the georeference cannot be trusted"
        )
    elif geo.residuals.horizontal_median_m > max_error_m / 2:
        untrustworthy = (
            f"the cameras sit {geo.residuals.horizontal_median_m:.1f} m (median) from their GPS "
            "fixes, far beyond GPS error, so the georeference cannot be trusted"
        )
    return Verdict(warnings + ([untrustworthy] if untrustworthy else []), untrustworthy)


def write_georeference(path: Path, geo: Georeference | None, reason: str) -> None:
    """`georeference.json` beside `sparse/`: how the model's frame relates to the Earth."""
    if geo is None:
        data = {"format": FORMAT, "frame": "model", "georeferenced": False, "reason": reason}
    else:
        data = {
            "format": FORMAT,
            "frame": "ENU",
            "georeferenced": True,
            "axes": "x east, y north, z up; metres",
            "ellipsoid": "WGS84",
            **asdict(geo),
        }
    path.write_text(json.dumps(data, indent=2) + "\n")
