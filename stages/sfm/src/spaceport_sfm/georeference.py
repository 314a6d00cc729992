"""Put the model into local ENU metres (x east, y north, z up) around a stated geographic origin.

A similarity transform (scale, rotation, translation) from the model's camera centres to the
photos' GPS positions, robust to GPS outliers (LO-RANSAC, then least squares on the inliers),
applied to every pose and point. WGS84 <-> ENU conversions use COLMAP's own `GPSTransform`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pycolmap

from spaceport_sfm.exif import GeoPosition
from spaceport_shared.errors import SpaceportError

GEOREFERENCE_NAME = "georeference.json"
FORMAT = "spaceport-georeference/1"
_MIN_SPREAD_M = 1.0  # GPS positions closer together than this cannot fix a scale


@dataclass(frozen=True)
class GeoOrigin:
    lat: float  # degrees, WGS84
    lon: float  # degrees, WGS84
    alt: float  # metres, as the cameras' GPS altitude


@dataclass(frozen=True)
class Georeference:
    origin: GeoOrigin
    origin_rule: str
    scale: float  # metres per unit of the unaligned model
    residual_rms_m: float  # camera centre vs its GPS position, over all images with GPS
    residual_median_m: float
    images_aligned: int  # registered images with GPS
    inliers: int  # of those, within gps_max_error_m
    has_altitude: bool


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


def georeference(
    model: pycolmap.Reconstruction,
    gps_by_name: dict[str, GeoPosition],
    *,
    origin_rule: str,
    max_error_m: float,
) -> tuple[Georeference | None, str]:
    """Align `model` in place to ENU metres; return the result, or None and the reason why not."""
    images = [img for img in model.images.values() if img.has_pose and img.name in gps_by_name]
    if len(images) < 3:
        return None, f"only {len(images)} registered images carry GPS (3 needed)"
    positions = [gps_by_name[img.name] for img in images]
    origin = choose_origin(origin_rule, positions)
    target = enu_from_gps(positions, origin)  # [N, 3]
    source = np.array([img.projection_center() for img in images])  # [N, 3] model frame
    spread = np.linalg.svd(target - target.mean(axis=0), compute_uv=False) / math.sqrt(len(target))
    if spread[0] < _MIN_SPREAD_M:
        return None, f"the GPS positions lie within {spread[0]:.2f} m of each other"
    ransac = pycolmap.RANSACOptions()
    ransac.max_error = max_error_m
    ransac.random_seed = 0
    found = pycolmap.estimate_sim3d_robust(source, target, ransac)
    if not found or found["num_inliers"] < 3:
        return None, f"no similarity transform fits the GPS positions within {max_error_m} m"
    inliers = np.asarray(found["inlier_mask"], dtype=bool)
    refined = pycolmap.estimate_sim3d(source[inliers], target[inliers])
    world_from_model = refined if refined is not None else found["tgt_from_src"]
    model.transform(world_from_model)
    aligned = np.array([img.projection_center() for img in images])
    error = np.linalg.norm(aligned - target, axis=1)
    return (
        Georeference(
            origin=origin,
            origin_rule=origin_rule,
            scale=float(world_from_model.scale),
            residual_rms_m=float(np.sqrt(np.mean(error**2))),
            residual_median_m=float(np.median(error)),
            images_aligned=len(images),
            inliers=int(inliers.sum()),
            has_altitude=all(p.has_alt for p in positions),
        ),
        "",
    )


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
