"""The receiver's stated GPS accuracy: read from XMP and EXIF, and carried by the priors.

The priors' deviations estimated from the residuals of a model the photos bent overstate the
noise; where the receiver states its accuracy, the priors carry that, while the tests of the
GPS (jumps, drift) still judge it by the residuals.
"""

import json
import math

import numpy as np
import piexif
import pycolmap
import pytest
from PIL import Image

from spaceport_sfm.cli import main
from spaceport_sfm.exif import GeoPosition, read_exif
from spaceport_sfm.gps_quality import assess_gps, stated_sigmas
from spaceport_sfm.stage import seeding_sigma_m
from spaceport_sfm.xmp import stated_accuracy
from spaceport_synth import Flaws, generate, read_ground_truth

_PIX4D = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
    'xmlns:Camera="http://pix4d.com/camera/1.0/" Camera:GPSXYAccuracy="2.301" '
    'Camera:GPSZAccuracy="3.419" Camera:Yaw="-16.8"/></rdf:RDF></x:xmpmeta>'
)
# DJI's RTK drones write elements; a different prefix must not matter, only the namespace
_DJI_RTK = (
    '<?xpacket begin=""?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
    'xmlns:dji="http://www.dji.com/drone-dji/1.0/"><dji:RtkFlag>50</dji:RtkFlag>'
    "<dji:RtkStdLon>0.01234</dji:RtkStdLon><dji:RtkStdLat>0.02345</dji:RtkStdLat>"
    "<dji:RtkStdHgt>0.03456</dji:RtkStdHgt></rdf:Description></rdf:RDF></x:xmpmeta>"
    '<?xpacket end="w"?>'
)
_BOMB = (
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    'xmlns:Camera="http://pix4d.com/camera/1.0/"><Camera:GPSXYAccuracy>&b;</Camera:GPSXYAccuracy>'
    "</rdf:Description></rdf:RDF></x:xmpmeta>"
)


def test_stated_accuracy_from_pix4d_and_dji_xmp():
    pix4d = stated_accuracy(_PIX4D.encode())
    assert (pix4d.horizontal_m, pix4d.vertical_m) == (2.301, 3.419)
    rtk = stated_accuracy(_DJI_RTK)
    assert (rtk.horizontal_m, rtk.vertical_m) == (0.02345, 0.03456)  # the worse axis


@pytest.mark.parametrize(
    "packet",
    [None, b"", b"not xml at all", _PIX4D.replace("2.301", "-1").replace("3.419", "nan"), _BOMB,
     _PIX4D[: len(_PIX4D) // 2]],
)  # fmt: skip
def test_no_accuracy_from_missing_broken_or_hostile_xmp(packet):
    assert stated_accuracy(packet) is None


def _gps_ifd(error_m: float | None = None) -> dict:
    gps = {
        piexif.GPSIFD.GPSLatitudeRef: "N",
        piexif.GPSIFD.GPSLatitude: ((55, 1), (42, 1), (0, 1)),
        piexif.GPSIFD.GPSLongitudeRef: "E",
        piexif.GPSIFD.GPSLongitude: ((13, 1), (11, 1), (0, 1)),
    }
    if error_m is not None:
        gps[piexif.GPSIFD.GPSHPositioningError] = (round(error_m * 100), 100)
    return gps


def _jpeg(path, gps: dict, xmp: str | None = None):
    exif = piexif.dump({"0th": {}, "Exif": {}, "GPS": gps})
    extra = {"xmp": xmp.encode()} if xmp else {}
    Image.new("RGB", (32, 24), (90, 100, 110)).save(path, exif=exif, **extra)
    with Image.open(path) as image:
        return read_exif(image).gps


def test_photos_carry_their_receivers_stated_accuracy(tmp_path):
    pix4d = _jpeg(tmp_path / "sequoia.jpg", _gps_ifd(), _PIX4D)
    assert (pix4d.sigma_h_m, pix4d.sigma_v_m) == (2.301, 3.419)
    phone = _jpeg(tmp_path / "phone.jpg", _gps_ifd(4.7))  # EXIF 2.31's positioning error
    assert (phone.sigma_h_m, phone.sigma_v_m) == (4.7, None)
    plain = _jpeg(tmp_path / "plain.jpg", _gps_ifd())
    assert (plain.sigma_h_m, plain.sigma_v_m) == (None, None)
    assert plain.lat == pytest.approx(55.7)


def _fix(sigma_h=None, sigma_v=None):
    return GeoPosition(55.0, 13.0, 100.0, True, sigma_h, sigma_v)


def test_the_flights_stated_accuracy_needs_half_its_fixes():
    fixes = [_fix(2.0, 3.0), _fix(3.0, 4.0), _fix(2.5, None), _fix()]
    assert stated_sigmas(fixes) == (2.5, 3.5)
    assert stated_sigmas([_fix(2.0), _fix(), _fix()]) == (None, None)
    named = {f"{i}.jpg": f for i, f in enumerate(fixes)}
    assert seeding_sigma_m(named, 5.0) == 2.5
    assert seeding_sigma_m(named, 0.0) == 0.0  # "the photos alone" stays so
    assert seeding_sigma_m({"a.jpg": _fix(), "b.jpg": _fix()}, 5.0) == 5.0


def _survey(bend_m: float, drift_m: float, seed: int = 0):
    """A nadir grid (6 lines x 8 photos, 50 m apart) whose model is bent by `bend_m` in its
    horizontal positions (as weak links bend one), fixes with 2 m noise and an altitude drift."""
    rng = np.random.default_rng(seed)
    east, north = np.meshgrid(np.arange(8) * 50.0, np.arange(6) * 50.0)
    truth = np.column_stack([east.ravel(), north.ravel(), np.full(east.size, 100.0)])
    model = truth.copy()
    model[:, :2] += rng.normal(0.0, bend_m, (len(truth), 2))
    fixes = truth + rng.normal(0.0, [2.0, 2.0, 3.0], truth.shape)
    fixes[:, 2] += np.linspace(0.0, drift_m, len(truth))
    # views within a few degrees of nadir: the GPS altitude levels 48 of them better
    axes = np.column_stack([rng.normal(0.0, 0.08, (len(truth), 2)), -np.ones(len(truth))])
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    ground = np.column_stack([rng.uniform(0, 350, (300, 2)), rng.normal(0.0, 0.5, 300)])
    return model, axes, ground, fixes


def _assess(model, axes, ground, fixes, **stated):
    return assess_gps(model, axes, ground, fixes, has_altitude=True, max_error_m=20.0, **stated)


def test_priors_carry_the_stated_accuracy_where_residuals_overstate_the_noise():
    survey = _survey(bend_m=4.0, drift_m=0.0)
    estimated = _assess(*survey)
    stated = _assess(*survey, stated_h_m=2.0, stated_v_m=3.0)
    # the residuals hold the bend and the noise: sqrt(4^2 + 2^2) = 4.5 m per axis
    assert 3.5 < estimated.sigma_h_m < 5.5
    assert estimated.sigma_source == "residuals"
    assert (stated.sigma_h_m, stated.sigma_v_m, stated.sigma_source) == (2.0, 3.0, "receiver")
    assert stated.vertical_source == "GPS altitude"
    # the jump test and the alignment still come from the residuals
    assert stated.outlier_m == estimated.outlier_m
    assert np.array_equal(stated.inliers, estimated.inliers)
    assert np.allclose(stated.prior_positions[:, :2], estimated.prior_positions[:, :2])


def test_a_stated_vertical_accuracy_widens_the_altitude_check_but_a_drift_still_shows():
    # a straight model (0.2 m) puts the residual noise near 2 m: a 9 m drift of an altitude
    # good to 3 m by its receiver is beyond 4 x 2 m, within 4 x 3 m
    steady = _survey(bend_m=0.2, drift_m=9.0, seed=1)
    assert not _assess(*steady).altitude_trusted
    assert _assess(*steady, stated_h_m=2.0, stated_v_m=3.0).altitude_trusted
    drifting = _survey(bend_m=0.2, drift_m=40.0, seed=1)
    found = _assess(*drifting, stated_h_m=2.0, stated_v_m=3.0)
    assert not found.altitude_trusted
    assert found.altitude_drift_m == pytest.approx(40.0, abs=3.0)
    assert found.vertical_source == "photos"
    assert math.isclose(found.sigma_v_m, 2.0)  # heights from the photos, as tight as the fixes


def test_the_stage_carries_a_stated_accuracy_into_its_report(tmp_path):
    """The whole stage on a synthetic flight whose photos state their fixes' accuracy (EXIF
    GPSHPositioningError, 2 m): the priors carry it and the model stays within the noise."""
    noise_m = 2.0
    survey = generate(
        tmp_path / "survey", "test", seed=2,
        flaws=Flaws(gps_noise_m=noise_m, gps_vertical_noise_m=3.0, gps_accuracy_tag=True),
    )  # fmt: skip
    out = tmp_path / "out"
    origin = survey.origin
    setting = f"origin={origin.lat},{origin.lon},{origin.alt}"
    assert main(["--input", str(survey.images_dir), "--output", str(out), "--set", setting]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["metrics"]["gps_horizontal_noise_m"] == noise_m
    assert report["details"]["georeference"]["gps_noise_from"] == "the receiver's stated accuracy"
    truth = read_ground_truth(survey.root)
    uploaded = json.loads((out / "image_names.json").read_text())
    model = pycolmap.Reconstruction(out / "sparse" / "0")
    errors = np.array(
        [
            image.projection_center() - truth.images[uploaded[image.name]].camera_center
            for image in model.images.values()
        ]
    )
    assert len(errors) == 12
    horizontal = np.linalg.norm(errors[:, :2], axis=1)
    assert np.median(horizontal) < noise_m  # measured 1.31 m
    assert horizontal.max() < 1.5 * noise_m  # measured 2.44 m
    assert np.abs(errors[:, 2]).max() < 1.5  # measured 0.68 m
