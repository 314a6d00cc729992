"""Structure-from-motion with plain pycolmap defaults recovers the synthetic survey."""

from __future__ import annotations

import numpy as np
import pytest

from spaceport_synth import generate, geodetic_to_enu
from spaceport_synth.rotation import rotation_angle_deg

pycolmap = pytest.importorskip("pycolmap", reason="pycolmap is not installed")


@pytest.mark.slow
def test_pycolmap_defaults_register_the_test_preset_accurately(tmp_path):
    survey = generate(tmp_path / "survey", preset="test", seed=0)
    database = tmp_path / "database.db"
    pycolmap.extract_features(database, survey.images_dir)
    _assert_colmap_reads_the_exif_gps(database, survey)
    pycolmap.match_exhaustive(database)
    models = pycolmap.incremental_mapping(database, survey.images_dir, tmp_path / "sparse")
    assert models, "no model"
    best = max(models.values(), key=lambda r: r.num_reg_images())
    assert best.num_reg_images() >= 0.8 * len(survey.image_names)

    # Relative rotations between every pair of photos do not depend on SfM's free frame.
    truth = survey.ground_truth.images
    rotations = {im.name: im.cam_from_world().rotation.matrix() for im in best.images.values()}
    names = sorted(rotations)
    errors = [
        rotation_angle_deg(
            rotations[a] @ rotations[b].T,
            truth[a].cam_from_world_rotation @ truth[b].cam_from_world_rotation.T,
        )
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    ]
    assert np.median(errors) < 0.2


def _assert_colmap_reads_the_exif_gps(database, survey) -> None:
    """COLMAP turns our EXIF into GPS pose priors at the true camera centres."""
    db = pycolmap.Database.open(database)
    try:
        names = {image.image_id: image.name for image in db.read_all_images()}
        priors = db.read_all_pose_priors()
    finally:
        db.close()
    assert len(priors) == len(survey.image_names)
    for prior in priors:
        lat, lon, alt = prior.position
        enu = geodetic_to_enu(lat, lon, alt, survey.origin)
        true = survey.ground_truth.images[names[prior.corr_data_id.id]].camera_center
        assert np.linalg.norm(enu - true) < 0.1
