"""`flight.json`: the flight as data for the results page (the same picture as `flight.png`).

Every usable photo in capture order with its EXIF GPS position and, when the model placed it,
its SfM camera centre, both in the model's frame (ENU metres when georeferenced); plus a
subsample of the sparse points with their colours. Without a georeference the GPS positions
cannot be drawn in the model's frame, so they are left out (null).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pycolmap

from spaceport_sfm.georeference import Georeference, enu_from_gps
from spaceport_sfm.photos import Photo

FORMAT = "spaceport-flight/1"
MAX_POINTS = 5_000  # a browser draws this many SVG dots without lag


def _round(values: np.ndarray, digits: int = 3) -> list:
    return np.round(np.asarray(values, np.float64), digits).tolist()


def flight_data(
    model: pycolmap.Reconstruction, photos: list[Photo], geo: Georeference | None
) -> dict:
    by_name = {img.name: img for img in model.images.values() if img.has_pose}
    with_gps = [p for p in photos if p.exif.gps is not None]
    gps_enu = {}
    if geo is not None and with_gps:
        enu = enu_from_gps([p.exif.gps for p in with_gps], geo.origin)
        gps_enu = {p.name: _round(xyz) for p, xyz in zip(with_gps, enu, strict=True)}
    cameras = []
    for photo in photos:
        image = by_name.get(photo.name)
        cameras.append(
            {
                "name": photo.source,
                "placed": image is not None,
                "sfm": _round(image.projection_center()) if image is not None else None,
                "gps": gps_enu.get(photo.name),
            }
        )
    xyz = np.array([p.xyz for p in model.points3D.values()]).reshape(-1, 3)
    rgb = np.array([p.color for p in model.points3D.values()], np.int64).reshape(-1, 3)
    if len(xyz) > MAX_POINTS:
        keep = np.sort(np.random.default_rng(0).choice(len(xyz), MAX_POINTS, replace=False))
        xyz, rgb = xyz[keep], rgb[keep]
    return {
        "format": FORMAT,
        "frame": "ENU metres (x east, y north, z up)" if geo is not None else "model",
        "georeferenced": geo is not None,
        "cameras": cameras,
        "points": {"xyz": _round(xyz), "rgb": rgb.tolist(), "total": model.num_points3D()},
    }


def write_flight(
    path: Path, model: pycolmap.Reconstruction, photos: list[Photo], geo: Georeference | None
) -> Path:
    Path(path).write_text(json.dumps(flight_data(model, photos, geo)) + "\n")
    return Path(path)
