"""The survey's ground truth file (`ground_truth.json`) and its reader.

Poses follow pycolmap: `cam_from_world` maps local ENU metres (x east, y north, z up) into the
camera frame (x right, y down, z forward); quaternions are (x, y, z, w) like
`pycolmap.Rotation3d.quat`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spaceport_shared.errors import SpaceportError

from .geodesy import GeoOrigin
from .render import PinholeCamera
from .rotation import quat_xyzw_from_matrix

FILE_NAME = "ground_truth.json"
FORMAT = "spaceport-synth-ground-truth/1"


@dataclass(frozen=True)
class ImageTruth:
    name: str
    kind: str  # "nadir" or "oblique"
    cam_from_world_rotation: np.ndarray  # [3, 3]
    cam_from_world_translation: np.ndarray  # [3]

    @property
    def world_from_cam_rotation(self) -> np.ndarray:
        return self.cam_from_world_rotation.T

    @property
    def camera_center(self) -> np.ndarray:
        """[3] ENU metres."""
        return -self.cam_from_world_rotation.T @ self.cam_from_world_translation


@dataclass(frozen=True)
class GroundTruth:
    preset: str
    seed: int
    origin: GeoOrigin
    camera: PinholeCamera
    images: dict[str, ImageTruth]  # by file name, in capture order


def _pose_json(rotation: np.ndarray, translation: np.ndarray) -> dict:
    return {
        "quat_xyzw": [float(v) for v in quat_xyzw_from_matrix(rotation)],
        "rotation": [[float(v) for v in row] for row in rotation],
        "translation": [float(v) for v in translation],
    }


def ground_truth_json(truth: GroundTruth, gps: dict[str, tuple[float, float, float]]) -> dict:
    cam = truth.camera
    images = {}
    for name, image in truth.images.items():
        centre = image.camera_center
        lat, lon, alt = gps[name]
        images[name] = {
            "kind": image.kind,
            "cam_from_world": _pose_json(
                image.cam_from_world_rotation, image.cam_from_world_translation
            ),
            "world_from_cam": _pose_json(image.world_from_cam_rotation, centre),
            "camera_center": [float(v) for v in centre],
            "gps": {"lat": lat, "lon": lon, "alt": alt},
        }
    return {
        "format": FORMAT,
        "preset": truth.preset,
        "seed": truth.seed,
        "frame": "local ENU metres (x east, y north, z up) around origin; "
        "camera x right, y down, z forward (pycolmap)",
        "origin": {"lat": truth.origin.lat, "lon": truth.origin.lon, "alt": truth.origin.alt},
        "camera": {
            "model": "PINHOLE",
            "width": cam.width,
            "height": cam.height,
            "params": [cam.fx, cam.fy, cam.cx, cam.cy],
            "fx": cam.fx,
            "fy": cam.fy,
            "cx": cam.cx,
            "cy": cam.cy,
        },
        "images": images,
    }


def write_ground_truth(path: Path, truth: GroundTruth, gps) -> None:
    path.write_text(json.dumps(ground_truth_json(truth, gps), indent=1) + "\n")


def read_ground_truth(path: Path | str) -> GroundTruth:
    """Read `ground_truth.json` (or the survey folder holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / FILE_NAME
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SpaceportError(
            f"Cannot read synthetic ground truth {path}: {exc}; generate the survey with "
            "`spaceport synth`."
        ) from None
    if data.get("format") != FORMAT:
        raise SpaceportError(f"{path} is not a Spaceport synthetic ground-truth file.")
    cam = data["camera"]
    images = {
        name: ImageTruth(
            name=name,
            kind=entry["kind"],
            cam_from_world_rotation=np.array(entry["cam_from_world"]["rotation"]),
            cam_from_world_translation=np.array(entry["cam_from_world"]["translation"]),
        )
        for name, entry in data["images"].items()
    }
    return GroundTruth(
        preset=data["preset"],
        seed=int(data["seed"]),
        origin=GeoOrigin(**data["origin"]),
        camera=PinholeCamera(cam["width"], cam["height"], *cam["params"]),
        images=images,
    )
