"""A flight with a poor receiver, as real ones have: GPS noise correlated along the flight, a
barometric offset, an altitude drifting by tens of metres, two fixes thrown 40 m off; and a lens
with radial distortion whose EXIF has no 35 mm-equivalent focal length. Compared with the
ground truth directly, with no further alignment.

Before GPS was judged against the photos (the plain similarity fit), this flight came out
tilted by 34 deg, silently.
"""

import json

import numpy as np
import pycolmap
import pytest

from spaceport_sfm.cli import main
from spaceport_synth import Flaws, generate, read_ground_truth

GPS_NOISE_M = 2.0
FLAWS = Flaws(
    gps_noise_m=GPS_NOISE_M,
    gps_vertical_noise_m=3.0,
    altitude_offset_m=12.0,
    altitude_drift_m=40.0,
    gps_jumps=2,
    gps_jump_m=40.0,
    radial_k1=0.05,
    focal_35mm_tag=False,
)


def _run(images, out, origin, *settings):
    argv = ["--input", str(images), "--output", str(out)]
    for item in (f"origin={origin.lat},{origin.lon},{origin.alt}", *settings):
        argv += ["--set", item]
    return main(argv)


@pytest.fixture(scope="module")
def flight(tmp_path_factory):
    survey = generate(tmp_path_factory.mktemp("poor") / "survey", "test", seed=0, flaws=FLAWS)
    out = tmp_path_factory.mktemp("poor-out") / "out"
    assert _run(survey.images_dir, out, survey.origin) == 0
    return survey, out, json.loads((out / "report.json").read_text())


def _compare(out, survey):
    """(tilt of the model from the truth's level in degrees, [N, 3] centre errors in metres)."""
    truth = read_ground_truth(survey.root)
    model = pycolmap.Reconstruction(out / "sparse" / "0")
    uploaded = json.loads((out / "image_names.json").read_text())  # internal -> user's name
    relative, errors = np.zeros((3, 3)), []
    for image in model.images.values():
        t = truth.images[uploaded[image.name]]
        relative += image.cam_from_world().rotation.matrix().T @ t.cam_from_world_rotation
        errors.append(image.projection_center() - t.camera_center)
    u, _, vt = np.linalg.svd(relative)  # the mean world rotation, model from truth
    tilt = float(np.degrees(np.arccos(np.clip((u @ vt)[2, 2], -1.0, 1.0))))
    return tilt, np.array(errors)


def test_poor_gps_neither_tilts_nor_bends_the_model(flight):
    survey, out, report = flight
    tilt, errors = _compare(out, survey)
    horizontal = np.linalg.norm(errors[:, :2], axis=1)
    assert report["metrics"]["images_registered"] == 12
    assert tilt < 0.5  # measured 0.13 deg (34 deg before)
    assert np.median(horizontal) < GPS_NOISE_M  # measured 1.4 m
    assert horizontal.max() < 2 * GPS_NOISE_M  # measured 2.3 m: the jumped fixes did not pull
    # the height is the GPS altitude's where the drift began: the barometric offset remains
    assert abs(np.median(errors[:, 2]) - FLAWS.altitude_offset_m) < 3.0  # measured 0.4 m off


def test_the_report_names_the_gps_problems(flight):
    _, _, report = flight
    m = report["metrics"]
    assert m["gps_jumps"] == 2
    assert 25.0 < m["gps_altitude_drift_m"] < 45.0  # 40 m drift plus correlated noise: 35.1
    assert report["details"]["georeference"]["vertical_from"] == "photos"
    assert len(report["details"]["georeference"]["outliers"]) == 2
    assert any("GPS altitude drifts" in w for w in report["warnings"])
    assert any("2 of 12 GPS fixes disagree with the photos" in w for w in report["warnings"])
    assert m["georeference_inlier_share"] == pytest.approx(10 / 12, abs=1e-3)
    assert m["georeference_horizontal_median_m"] < GPS_NOISE_M


def test_focal_from_the_focal_plane_resolution(flight):
    _, _, report = flight
    m = report["metrics"]
    assert report["details"]["focal"]["prior_sources"] == [
        "focal length and focal plane resolution"
    ]
    assert m["focal_prior_px"] == pytest.approx(256.0, rel=2e-3)  # the truth: 256 px
    assert abs(m["focal_change"]) < 0.02  # measured 0.06 %
    assert not any("no focal length" in w for w in report["warnings"])


def test_require_georeference_fails_when_most_fixes_disagree(tmp_path):
    flaws = Flaws(gps_jumps=7, gps_jump_m=60.0)
    survey = generate(tmp_path / "survey", "test", seed=1, flaws=flaws)
    out = tmp_path / "out"
    assert _run(survey.images_dir, out, survey.origin) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["details"]["georeference"]["trustworthy"] is False
    assert any("cannot be trusted" in w for w in report["warnings"])
    strict = tmp_path / "strict"
    assert _run(survey.images_dir, strict, survey.origin, "require_georeference=true") != 0
    assert not strict.exists()
