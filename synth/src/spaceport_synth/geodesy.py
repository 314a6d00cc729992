"""WGS84 geodetic coordinates <-> local ENU metres around a geographic origin.

Written out (a dozen lines of textbook formulas) because shared may depend on numpy only;
pyproj would be the library otherwise. Exact to well under a millimetre at survey scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_A = 6378137.0  # WGS84 semi-major axis, metres
_F = 1.0 / 298.257223563
_E2 = _F * (2.0 - _F)  # first eccentricity squared


@dataclass(frozen=True)
class GeoOrigin:
    """The geographic point that is (0, 0, 0) of the local ENU frame.

    `alt` is metres above the ellipsoid; the generator treats GPS altitude in the same datum.
    """

    lat: float  # degrees
    lon: float  # degrees
    alt: float = 0.0  # metres


def geodetic_to_ecef(lat: float, lon: float, alt: float) -> np.ndarray:
    """Degrees, degrees, metres -> ECEF metres [3]."""
    phi, lam = math.radians(lat), math.radians(lon)
    n = _A / math.sqrt(1.0 - _E2 * math.sin(phi) ** 2)
    return np.array(
        [
            (n + alt) * math.cos(phi) * math.cos(lam),
            (n + alt) * math.cos(phi) * math.sin(lam),
            (n * (1.0 - _E2) + alt) * math.sin(phi),
        ]
    )


def ecef_to_geodetic(xyz: np.ndarray) -> tuple[float, float, float]:
    """ECEF metres [3] -> (lat degrees, lon degrees, alt metres), iterated to convergence."""
    x, y, z = (float(v) for v in xyz)
    lon = math.atan2(y, x)
    p = math.hypot(x, y)
    lat = math.atan2(z, p * (1.0 - _E2))
    alt = 0.0
    for _ in range(10):
        n = _A / math.sqrt(1.0 - _E2 * math.sin(lat) ** 2)
        alt = p / math.cos(lat) - n
        lat = math.atan2(z, p * (1.0 - _E2 * n / (n + alt)))
    return math.degrees(lat), math.degrees(lon), alt


def _ecef_from_enu_rotation(origin: GeoOrigin) -> np.ndarray:
    """Columns: east, north, up unit vectors of the origin, in ECEF [3, 3]."""
    phi, lam = math.radians(origin.lat), math.radians(origin.lon)
    east = [-math.sin(lam), math.cos(lam), 0.0]
    north = [-math.sin(phi) * math.cos(lam), -math.sin(phi) * math.sin(lam), math.cos(phi)]
    up = [math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi)]
    return np.array([east, north, up]).T


def enu_to_geodetic(enu: np.ndarray, origin: GeoOrigin) -> tuple[float, float, float]:
    """Local ENU metres [3] -> (lat degrees, lon degrees, alt metres)."""
    ecef = geodetic_to_ecef(origin.lat, origin.lon, origin.alt)
    ecef = ecef + _ecef_from_enu_rotation(origin) @ np.asarray(enu, dtype=np.float64)
    return ecef_to_geodetic(ecef)


def geodetic_to_enu(lat: float, lon: float, alt: float, origin: GeoOrigin) -> np.ndarray:
    """(lat degrees, lon degrees, alt metres) -> local ENU metres [3]."""
    delta = geodetic_to_ecef(lat, lon, alt) - geodetic_to_ecef(origin.lat, origin.lon, origin.alt)
    return _ecef_from_enu_rotation(origin).T @ delta
