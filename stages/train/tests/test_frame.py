"""The trained model keeps the SfM's ENU frame, also for a survey far from the ENU origin.

The synthetic survey sits around its own origin, where a stage that forgot to undo its
normalisation (centre and scale) would still land near the points; moved kilometres away, it
cannot.
"""

from __future__ import annotations

import shutil

import numpy as np
import pycolmap

from spaceport_shared.entrypoint import execute_stage
from spaceport_shared.ply import read_ply
from spaceport_shared.settings import parse_settings
from spaceport_train.cli import SPEC
from spaceport_train.settings import TrainSettings

# East, north, up of the survey's centre from the georeference origin, metres.
OFFSET = np.array([4200.0, -3100.0, 35.0])
SETTINGS = {"steps": "30", "max_image_size": "80", "sh_degree": "0", "log_interval": "10"}


def test_model_far_from_the_origin_stays_in_the_input_frame(synth_model, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(synth_model, moved)
    rec = pycolmap.Reconstruction(str(moved / "sparse" / "0"))
    rec.transform(pycolmap.Sim3d(1.0, pycolmap.Rotation3d(), OFFSET))
    rec.write(str(moved / "sparse" / "0"))
    points = np.array([p.xyz for p in rec.points3D.values()])
    assert np.abs(np.median(points, 0) - OFFSET).max() < 50.0  # the survey really moved

    out = tmp_path / "out"
    settings = parse_settings(TrainSettings, SETTINGS)
    execute_stage(SPEC, settings, moved, out, checkpoint_dir=tmp_path / "ckpt", extras_dir=None)

    means = read_ply(out / "scene.ply").means
    # Splats sit among the moved points (a few metres: the survey's own spread is ~100 m) ...
    assert np.abs(np.median(means, 0) - np.median(points, 0)).max() < 5.0
    # ... and span the same extent in metres, not normalised units.
    spread = np.percentile(means, 90, 0) - np.percentile(means, 10, 0)
    point_spread = np.percentile(points, 90, 0) - np.percentile(points, 10, 0)
    assert np.allclose(spread[:2], point_spread[:2], rtol=0.5)
