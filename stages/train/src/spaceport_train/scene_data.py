"""Training data from the SfM output: a COLMAP model (pycolmap 4.x) and its undistorted images.

Input layout (the SfM stage's output, or `spaceport_synth.write_colmap_model`):
`sparse/0/{cameras,images,points3D}.{bin,txt}` (or the model directly in `sparse/` or the input
folder) and `images/<name>` for every registered image. Cameras must be PINHOLE or
SIMPLE_PINHOLE (SfM undistorts). Images are sorted by name and one in `test_every` is held out
(`holdout.py`: every `test_every`-th by name as gsplat's COLMAP parser, or the interior views).

The scene is normalised for training (`Normalization`: translate the camera centroid to the
origin, scale so the farthest camera is 1 away; no rotation, so SH and quaternions are
unchanged) and the transform is kept so the exported model lies in the input's frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pycolmap
import torch
from PIL import Image
from torch import Tensor

from spaceport_shared.errors import SpaceportError
from spaceport_train.holdout import held_out
from spaceport_train.model_check import validate_model

_MODEL_FILES = ("cameras", "images", "points3D")


@dataclass(frozen=True)
class Normalization:
    """x_train = scale * (x_input - center); the input frame is the SfM output's (ENU metres)."""

    center: np.ndarray  # [3]
    scale: float

    def to_train(self, points: np.ndarray) -> np.ndarray:  # [N, 3]
        return (points - self.center) * self.scale

    def to_input(self, points: np.ndarray) -> np.ndarray:  # [N, 3]
        return points / self.scale + self.center


@dataclass
class View:
    """One photo at its working size. Its pixels stay 8-bit (a 1600 x 1200 photo: 5.8 MB, not
    the 23 MB of float32): 400 photos fit in 2.3 GB, and each step converts only its own."""

    name: str
    pixels: Tensor  # [H, W, 3] uint8
    K: Tensor  # [3, 3] at the working resolution
    viewmat: Tensor  # [4, 4] cam_from_world in the training frame
    cam_from_world: np.ndarray  # [3, 4] in the input frame (for cameras.json)

    @property
    def image(self) -> Tensor:
        """[H, W, 3] float32 in [0, 1], converted on each call."""
        return self.pixels.float() / 255.0

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def height(self) -> int:
        return self.pixels.shape[0]


@dataclass
class SceneData:
    train: list[View]
    test: list[View]
    points: np.ndarray  # [P, 3] training frame
    colors: np.ndarray  # [P, 3] in [0, 1]
    normalization: Normalization
    scene_scale: float  # gsplat: 1.1 x farthest camera from the centroid (training frame)


def find_model_dir(input_dir: Path) -> Path:
    for candidate in (input_dir / "sparse" / "0", input_dir / "sparse", input_dir):
        if all(
            (candidate / f"{name}.bin").is_file() or (candidate / f"{name}.txt").is_file()
            for name in _MODEL_FILES
        ):
            return candidate
    raise SpaceportError(
        f"No COLMAP model found in {input_dir}: expected sparse/0/cameras, images and points3D "
        "(.bin or .txt); pass the SfM stage's output folder."
    )


def read_reconstruction(model_dir: Path) -> pycolmap.Reconstruction:
    try:
        return pycolmap.Reconstruction(str(model_dir))
    except Exception as exc:  # pycolmap raises plain RuntimeError/ValueError for bad files
        files = ", ".join(sorted(p.name for p in model_dir.glob("*.bin")) or ["its .txt files"])
        raise SpaceportError(
            f"The COLMAP model in {model_dir} cannot be read, one of {files} is damaged or cut "
            f"short ({exc}); rerun the SfM stage or upload its output again."
        ) from exc


def _intrinsics(camera: pycolmap.Camera) -> tuple[float, float, float, float]:
    name = camera.model.name
    p = list(camera.params)
    if name == "PINHOLE":
        return p[0], p[1], p[2], p[3]
    if name == "SIMPLE_PINHOLE":
        return p[0], p[0], p[1], p[2]
    raise SpaceportError(
        f"Camera {camera.camera_id} uses the {name} model; training needs undistorted PINHOLE "
        "cameras, so pass the SfM stage's undistorted output."
    )


def _load_image(path: Path, max_size: int) -> Tensor:
    """The image as [H, W, 3] uint8, downscaled so its longer side is at most `max_size`."""
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            w, h = img.size
            factor = min(1.0, max_size / max(w, h))
            if factor < 1.0:
                size = (max(1, round(w * factor)), max(1, round(h * factor)))
                img = img.resize(size, Image.Resampling.LANCZOS)
            pixels = np.asarray(img, dtype=np.uint8)
    except OSError as exc:
        raise SpaceportError(f"The image {path} cannot be read ({exc}); replace it.") from exc
    return torch.from_numpy(pixels.copy())


def normalization_for(centers: np.ndarray, points: np.ndarray) -> Normalization:
    center = centers.mean(axis=0)
    radius = float(np.linalg.norm(centers - center, axis=1).max()) if len(centers) > 1 else 0.0
    if radius <= 1e-9:  # one camera, or all at one place: use the points' extent
        radius = float(np.linalg.norm(points - center, axis=1).max())
    if not math.isfinite(radius) or radius <= 1e-9:
        raise SpaceportError("The COLMAP model's cameras and points all coincide; rerun SfM.")
    return Normalization(center=center, scale=1.0 / radius)


def load_scene(
    input_dir: Path, max_image_size: int, test_every: int, holdout: str = "by-name"
) -> SceneData:
    input_dir = Path(input_dir)
    model_dir = find_model_dir(input_dir)
    rec = read_reconstruction(model_dir)
    images_dir = input_dir / "images"
    registered = sorted(
        (img for img in rec.images.values() if img.has_pose), key=lambda img: img.name
    )
    if not registered:
        raise SpaceportError(f"The COLMAP model in {model_dir} has no registered images.")
    if rec.num_points3D() == 0:
        raise SpaceportError(
            f"The COLMAP model in {model_dir} has no 3D points to start from; rerun SfM with "
            "more overlapping photos."
        )
    missing = [img.name for img in registered if not (images_dir / img.name).is_file()]
    if missing:
        raise SpaceportError(
            f"{len(missing)} registered image(s) are missing from {images_dir}, e.g. "
            f"{missing[0]}; pass the SfM output folder with its images/."
        )
    validate_model(model_dir, rec, images_dir)
    points = np.array([p.xyz for p in rec.points3D.values()], dtype=np.float64)
    colors = np.array([p.color for p in rec.points3D.values()], dtype=np.float32) / 255.0
    poses = [img.cam_from_world().matrix() for img in registered]  # [3, 4] each
    centers = np.array([-pose[:, :3].T @ pose[:, 3] for pose in poses])
    norm = normalization_for(centers, points)
    axes = np.array([pose[2, :3] for pose in poses])  # camera z in the world: R^T e_z
    test_indices = set(held_out(centers, axes, test_every, holdout))

    train, test = [], []
    for index, (img, pose) in enumerate(zip(registered, poses, strict=True)):
        fx, fy, cx, cy = _intrinsics(rec.cameras[img.camera_id])
        pixels = _load_image(images_dir / img.name, max_image_size)
        cam = rec.cameras[img.camera_id]
        # Intrinsics refer to the camera's size; the file may differ (e.g. already downscaled).
        sx, sy = pixels.shape[1] / cam.width, pixels.shape[0] / cam.height
        K = torch.tensor([[fx * sx, 0.0, cx * sx], [0.0, fy * sy, cy * sy], [0.0, 0.0, 1.0]])
        rot, trans = pose[:, :3], pose[:, 3]
        # x_cam = R x + t with x = x_train / s + c; scaling the camera frame by s (projection
        # does not change) keeps it rigid: s x_cam = R x_train + s (R c + t).
        viewmat = np.eye(4)
        viewmat[:3, :3] = rot
        viewmat[:3, 3] = norm.scale * (rot @ norm.center + trans)
        view = View(
            name=img.name,
            pixels=pixels,
            K=K.float(),
            viewmat=torch.from_numpy(viewmat).float(),
            cam_from_world=pose,
        )
        (test if index in test_indices else train).append(view)
    centers_train = norm.to_train(centers)
    scene_scale = 1.1 * float(np.linalg.norm(centers_train - centers_train.mean(0), axis=1).max())
    return SceneData(
        train=train,
        test=test,
        points=norm.to_train(points).astype(np.float32),
        colors=colors,
        normalization=norm,
        scene_scale=max(scene_scale, 1e-3),
    )
