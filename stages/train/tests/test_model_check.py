"""A damaged SfM hand-off is refused with one sentence naming the damaged file (issue 19 item 4).

Before model_check.py, `cameras.bin` cut to 7 bytes read as one 1x1 camera with zero parameters
and the stage trained on it and reported success (held-out PSNR 8.2 dB)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pycolmap
import pytest

from spaceport_shared.errors import SpaceportError
from spaceport_train.scene_data import load_scene


@pytest.fixture(scope="module")
def binary_model(synth_model, tmp_path_factory) -> Path:
    """The synthetic model as the SfM stage writes it: binary sparse/0 + images/."""
    root = tmp_path_factory.mktemp("binary") / "model"
    shutil.copytree(synth_model / "images", root / "images")
    (root / "sparse" / "0").mkdir(parents=True)
    pycolmap.Reconstruction(synth_model / "sparse" / "0").write_binary(root / "sparse" / "0")
    return root


def _cut(name: str, keep: int):
    def damage(model: Path) -> Path:
        path = model / "sparse" / "0" / name
        path.write_bytes(path.read_bytes()[:keep])
        return path

    return damage


def _append(model: Path) -> Path:
    path = model / "sparse" / "0" / "images.bin"
    path.write_bytes(path.read_bytes() + b"\0" * 16)
    return path


def _rewrite(edit):
    def damage(model: Path) -> Path:
        sparse = model / "sparse" / "0"
        rec = pycolmap.Reconstruction(sparse)
        edit(rec)
        rec.write_binary(sparse)
        return sparse / "cameras.bin"

    return damage


def _zero_focal(rec: pycolmap.Reconstruction) -> None:
    camera = rec.cameras[next(iter(rec.cameras))]
    camera.params = np.array([0.0, 0.0, camera.width / 2, camera.height / 2])


def _wrong_size(rec: pycolmap.Reconstruction) -> None:
    camera = rec.cameras[next(iter(rec.cameras))]
    camera.width, camera.height = camera.height, camera.width  # portrait camera, landscape files


def _unreadable_image(model: Path) -> Path:
    path = sorted((model / "images").iterdir())[3]
    path.write_bytes(b"not a jpeg")
    return path


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_cut("cameras.bin", 7), "is damaged (7 bytes where its records need 64)"),
        (_cut("cameras.bin", 40), "is damaged (40 bytes"),
        (_cut("images.bin", 7), "cannot be read"),
        (_cut("points3D.bin", 7), "cannot be read"),
        (_append, "is damaged ("),
        (_rewrite(_zero_focal), "parameters 0, 0, 160, 120"),
        (_rewrite(_wrong_size), "pixels but its image"),
        (_unreadable_image, "cannot be read"),
    ],
    ids=[
        "cameras-7-bytes",
        "cameras-cut",
        "images-cut",
        "points-cut",
        "appended",
        "zero-focal",
        "camera-size",
        "image-unreadable",
    ],
)
def test_damaged_model_is_refused(binary_model, tmp_path, damage, message):
    model = tmp_path / "model"
    shutil.copytree(binary_model, model)
    damaged = damage(model)
    with pytest.raises(SpaceportError) as info:
        load_scene(model, max_image_size=80, test_every=8)
    text = str(info.value)
    assert message in text
    assert str(damaged) in text or str(damaged.parent) in text
    assert text.count(". ") == 0 and text.endswith(".")  # one sentence


def test_the_intact_model_passes(binary_model):
    scene = load_scene(binary_model, max_image_size=80, test_every=8)
    assert len(scene.train) + len(scene.test) == 12


def test_cli_refuses_the_7_byte_cameras_bin(binary_model, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(binary_model, model)
    _cut("cameras.bin", 7)(model)
    script = Path(sys.executable).with_name("spaceport-train")
    out = tmp_path / "out"
    result = subprocess.run(
        [str(script), "--input", str(model), "--output", str(out), "--set", "steps=5"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert f"The COLMAP model file {model}/sparse/0/cameras.bin is damaged" in result.stderr
    assert not out.exists()
