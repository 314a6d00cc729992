"""Refuse a damaged COLMAP hand-off before training on it, naming the damaged file.

pycolmap reads a truncated binary model without complaint where the file ends on a record
boundary it expects (a `cameras.bin` cut to 7 bytes reads as one 1x1 camera with all-zero
parameters, and training on it "succeeds" with a PSNR of 8 dB). Two checks catch that:
- size: the model written back by the same pycolmap must have each `.bin` file's exact size;
  a file cut short (or with bytes appended) does not;
- content: counts, camera parameters (finite, positive focal lengths, principal point inside
  the image, the image file's aspect ratio) and finite point positions.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pycolmap
from PIL import Image

from spaceport_shared.errors import SpaceportError

_ADVICE = "rerun the SfM stage or upload its output again"
_ASPECT_TOLERANCE = 0.02  # images may be downscaled, not reshaped


def _damaged(path: Path, what: str) -> SpaceportError:
    return SpaceportError(f"The COLMAP model file {path} is damaged ({what}); {_ADVICE}.")


def check_binary_sizes(model_dir: Path, rec: pycolmap.Reconstruction) -> None:
    """Each `.bin` file is as long as the model read from it; text models are parsed strictly."""
    with tempfile.TemporaryDirectory(prefix="spaceport-model-check-") as tmp:
        rec.write_binary(tmp)
        for written in sorted(Path(tmp).glob("*.bin")):
            given = model_dir / written.name
            if not given.is_file():
                continue  # a text model, or an older layout without rigs/frames
            expected, actual = written.stat().st_size, given.stat().st_size
            if expected != actual:
                raise _damaged(given, f"{actual} bytes where its records need {expected}")


def check_cameras(model_dir: Path, rec: pycolmap.Reconstruction, images_dir: Path) -> None:
    cameras_file = _model_file(model_dir, "cameras")
    if rec.num_cameras() == 0:
        raise _damaged(cameras_file, "it holds no camera")
    for camera in rec.cameras.values():
        params = np.asarray(camera.params, dtype=np.float64)
        focal = [params[i] for i in camera.focal_length_idxs()]
        cx, cy = camera.principal_point_x, camera.principal_point_y
        if (
            camera.width < 2
            or camera.height < 2
            or not np.all(np.isfinite(params))
            or min(focal, default=0.0) <= 0.0
            or not (0.0 < cx < camera.width and 0.0 < cy < camera.height)
        ):
            raise _damaged(
                cameras_file,
                f"camera {camera.camera_id} is {camera.width}x{camera.height} pixels with "
                f"parameters {', '.join(f'{p:g}' for p in params)}",
            )
    for image in rec.images.values():
        if not image.has_pose:
            continue
        camera = rec.cameras[image.camera_id]
        path = images_dir / image.name
        try:
            with Image.open(path) as img:
                width, height = img.size
        except OSError as exc:
            raise SpaceportError(f"The image {path} cannot be read ({exc}); {_ADVICE}.") from exc
        aspect, expected = width / height, camera.width / camera.height
        if abs(math.log(aspect / expected)) > _ASPECT_TOLERANCE:
            raise _damaged(
                cameras_file,
                f"camera {camera.camera_id} is {camera.width}x{camera.height} pixels but its "
                f"image {image.name} is {width}x{height}",
            )


def check_points(model_dir: Path, rec: pycolmap.Reconstruction) -> None:
    xyz = np.array([p.xyz for p in rec.points3D.values()], dtype=np.float64).reshape(-1, 3)
    if not np.all(np.isfinite(xyz)):
        raise _damaged(_model_file(model_dir, "points3D"), "some point positions are not finite")


def _model_file(model_dir: Path, stem: str) -> Path:
    binary = model_dir / f"{stem}.bin"
    return binary if binary.is_file() else model_dir / f"{stem}.txt"


def validate_model(model_dir: Path, rec: pycolmap.Reconstruction, images_dir: Path) -> None:
    """Raise `SpaceportError` naming the damaged file; registered images must be present."""
    check_binary_sizes(model_dir, rec)
    check_cameras(model_dir, rec, images_dir)
    check_points(model_dir, rec)
