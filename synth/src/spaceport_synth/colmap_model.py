"""A COLMAP text model of a synthetic survey's true poses, laid out like the SfM stage's output
(`sparse/0/{cameras,images,points3D}.txt` + `images/`), so training can be tested without SfM.

Written by hand (the text format is three small tables) because shared must not import pycolmap.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from spaceport_shared.errors import SpaceportError

from .ground_truth import read_ground_truth
from .presets import get_preset
from .render import nearest_hit
from .rotation import quat_xyzw_from_matrix
from .scene import Scene
from .survey import build_world


def write_colmap_model(survey_dir: Path | str, out_dir: Path | str, num_points: int = 4000) -> Path:
    """Write the true cameras and poses plus `num_points` coloured surface points (tracks left
    empty) as `out_dir/sparse/0/*.txt`, and copy the photos to `out_dir/images/`.

    Returns the model folder `out_dir/sparse/0`.
    """
    survey_dir, out_dir = Path(survey_dir), Path(out_dir)
    truth = read_ground_truth(survey_dir)
    world = build_world(get_preset(truth.preset), truth.seed)
    model_dir = out_dir / "sparse" / "0"
    model_dir.mkdir(parents=True, exist_ok=True)
    images_out = out_dir / "images"
    images_out.mkdir(parents=True, exist_ok=True)
    for name in truth.images:
        source = survey_dir / "images" / name
        if not source.is_file():
            raise SpaceportError(f"Survey photo {source} is missing; regenerate the survey.")
        shutil.copy2(source, images_out / name)

    cam = truth.camera
    (model_dir / "cameras.txt").write_text(
        "# CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n"
        f"1 PINHOLE {cam.width} {cam.height} {_num(cam.fx, cam.fy, cam.cx, cam.cy)}\n"
    )
    lines = ["# IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME", "# POINTS2D[] (empty)"]
    for image_id, (name, image) in enumerate(truth.images.items(), start=1):
        qx, qy, qz, qw = quat_xyzw_from_matrix(image.cam_from_world_rotation)
        tx, ty, tz = image.cam_from_world_translation
        lines.append(f"{image_id} {_num(qw, qx, qy, qz, tx, ty, tz)} 1 {name}")
        lines.append("")
    (model_dir / "images.txt").write_text("\n".join(lines) + "\n")

    points, colours = _surface_points(world.scene, truth, survey_dir / "images", num_points)
    rows = ["# POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] (empty)"]
    for point_id, (p, c) in enumerate(zip(points, colours), start=1):
        rows.append(f"{point_id} {p[0]:.5f} {p[1]:.5f} {p[2]:.5f} {c[0]} {c[1]} {c[2]} 0")
    (model_dir / "points3D.txt").write_text("\n".join(rows) + "\n")
    return model_dir


def _num(*values: float) -> str:
    """Numbers at full float64 precision, space-separated."""
    return " ".join(repr(float(v)) for v in values)


def _surface_points(scene: Scene, truth, images_dir: Path, num_points: int):
    """Points [N, 3] where random pixels' rays meet the scene, and those pixels' colours [N, 3]."""
    rng = np.random.default_rng([truth.seed, 70])
    cam = truth.camera
    per_image = -(-num_points // len(truth.images))
    points, colours = [], []
    for image in truth.images.values():
        pixels = np.asarray(Image.open(images_dir / image.name).convert("RGB"))
        col = rng.integers(0, cam.width, per_image)
        row = rng.integers(0, cam.height, per_image)
        cam_rays = np.stack(
            [(col + 0.5 - cam.cx) / cam.fx, (row + 0.5 - cam.cy) / cam.fy, np.ones(per_image)]
        )
        dx, dy, dz = image.world_from_cam_rotation @ cam_rays
        ox, oy, oz = image.camera_center
        t, _, _ = nearest_hit(scene, ox, oy, oz, dx, dy, dz)
        hit = np.isfinite(t)
        points.append(np.stack([ox + t * dx, oy + t * dy, oz + t * dz], axis=1)[hit])
        colours.append(pixels[row, col][hit])
    return np.concatenate(points)[:num_points], np.concatenate(colours)[:num_points]
