"""A flight in two blocks with a gap between them: the mapper ends in two models, which the
stage joins by their GPS into one ENU model holding every photo (`merge.py`)."""

import json
import shutil
from dataclasses import replace

import numpy as np
import pycolmap
import pytest

from spaceport_sfm.cli import main
from spaceport_synth import generate, presets, read_ground_truth

pytestmark = pytest.mark.slow  # two SfM runs' worth: ~45 s


@pytest.fixture(scope="module")
def split_flight(tmp_path_factory):
    # 6 lines of 4 photos, 50 m footprints 20 m apart; lines 1-2 and 5-6 do not overlap
    split = replace(presets.PRESETS["test"], name="split", lines=6, images_per_line=4,
                    oblique_count=0)  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(presets.PRESETS, "split", split)
        survey = generate(tmp_path_factory.mktemp("split") / "survey", "split", seed=0)
    names = sorted(survey.image_names)
    photos = tmp_path_factory.mktemp("split-input")
    for name in names[:8] + names[16:]:
        shutil.copy(survey.images_dir / name, photos / name)
    out = tmp_path_factory.mktemp("split-out") / "out"
    origin = survey.origin
    argv = ["--input", str(photos), "--output", str(out)]
    assert main([*argv, "--set", f"origin={origin.lat},{origin.lon},{origin.alt}"]) == 0
    return survey, out, json.loads((out / "report.json").read_text())


def test_two_blocks_with_a_gap_are_joined_into_one_model(split_flight):
    _, _, report = split_flight
    metrics = report["metrics"]
    assert metrics["models_found"] == 2
    assert metrics["models_merged"] == 2
    assert metrics["images_registered"] == 16
    assert "joined by their GPS" in report["details"]["mapping"]["note"]
    assert not any("could not be placed" in w for w in report["warnings"])


def test_the_joined_model_lies_on_the_true_poses(split_flight):
    survey, out, _ = split_flight
    truth = read_ground_truth(survey.root)
    uploaded = json.loads((out / "image_names.json").read_text())
    model = pycolmap.Reconstruction(out / "sparse" / "0")
    centres, angles = [], []
    for image in model.images.values():
        t = truth.images[uploaded[image.name]]
        centres.append(np.linalg.norm(image.projection_center() - t.camera_center))
        relative = image.cam_from_world().rotation.matrix() @ t.cam_from_world_rotation.T
        angles.append(np.degrees(np.arccos(np.clip((np.trace(relative) - 1) / 2, -1, 1))))
    assert len(centres) == 16
    assert max(centres) < 0.05  # measured 0.008 m: exact GPS, each block on its own fixes
    assert max(angles) < 0.2  # measured 0.051 deg
