"""End to end on the synthetic survey: outputs, report, and accuracy against the true poses."""

import json
import zipfile

import numpy as np
import pycolmap
import pytest
from PIL import Image

from spaceport_sfm.cli import main
from spaceport_synth import read_ground_truth


@pytest.fixture(scope="module")
def upload(survey, tmp_path_factory):
    """The survey as a user might upload it: a zip of nested folders with mixed formats, a
    corrupt JPEG and a stray text file."""
    root = tmp_path_factory.mktemp("upload")
    names = sorted(p.name for p in survey.images_dir.iterdir())
    archive = root / "flight.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i, name in enumerate(names):
            src = survey.images_dir / name
            if i == 4:  # the same photo as PNG, EXIF kept, upper-case extension
                with Image.open(src) as im:
                    png = root / "photo.PNG"
                    im.save(png, exif=im.getexif())
                zf.write(png, f"card/DCIM/{name[:-4]}.PNG")
            else:
                zf.write(src, f"card/DCIM/{'a' if i % 2 else 'b'}/{name}")
        zf.writestr("card/readme.txt", "flight notes")
        zf.writestr("card/DCIM/broken.jpg", src.read_bytes()[:2000])
    return archive


@pytest.fixture(scope="module")
def result(upload, survey, tmp_path_factory):
    out = tmp_path_factory.mktemp("result") / "out"
    origin = survey.ground_truth.origin
    code = main(
        [
            "--input",
            str(upload),
            "--output",
            str(out),
            "--set",
            f"origin={origin.lat},{origin.lon},{origin.alt}",
        ]
    )
    assert code == 0
    return out


def test_outputs_and_report(result):
    report = json.loads((result / "report.json").read_text())
    m = report["metrics"]
    assert m["images_total"] == 12 and m["images_registered"] == 12
    assert m["images_skipped"] == 2  # readme.txt and broken.jpg
    assert any("broken.jpg" in w for w in report["warnings"])
    assert any("readme.txt" in w for w in report["warnings"])
    assert m["points"] > 500
    assert 0 < m["mean_reprojection_error_px"] < 1.0
    assert m["mean_track_length"] > 2
    assert report["details"]["matching"]["mode"] == "exhaustive"
    assert report["details"]["georeference"]["georeferenced"] is True
    assert m["georeference_residual_rms_m"] < 0.5
    for step in ("prepare", "extract", "match", "map", "georeference", "undistort"):
        assert report["timings_s"][step] >= 0

    model = pycolmap.Reconstruction(result / "sparse" / "0")
    assert (result / "sparse" / "0" / "cameras.bin").is_file()
    assert {c.model_name for c in model.cameras.values()} == {"PINHOLE"}
    # the points carry the photos' colours (the training stage starts its Gaussians from them)
    colours = np.array([p.color for p in model.points3D.values()], dtype=np.float64)
    assert colours.mean() > 20 and colours.std() > 5
    for image in model.images.values():
        path = result / "images" / image.name
        assert path.is_file(), image.name
        with Image.open(path) as im:
            assert im.size == (image.camera.width, image.camera.height)
    geo = json.loads((result / "georeference.json").read_text())
    assert geo["frame"] == "ENU" and geo["origin"]["lat"] == pytest.approx(55.7125)
    with Image.open(result / "flight.png") as im:
        assert im.format == "PNG" and min(im.size) > 300


def test_flight_data(result):
    """flight.json: every usable photo once, placed ones with their SfM centre beside GPS."""
    flight = json.loads((result / "flight.json").read_text())
    report = json.loads((result / "report.json").read_text())
    assert flight["georeferenced"] is True
    cameras = flight["cameras"]
    assert len(cameras) == report["metrics"]["images_total"]
    assert sum(c["placed"] for c in cameras) == report["metrics"]["images_registered"]
    gaps = [np.linalg.norm(np.subtract(c["sfm"], c["gps"])) for c in cameras if c["placed"]]
    assert np.sqrt(np.mean(np.square(gaps))) == pytest.approx(
        report["metrics"]["georeference_residual_rms_m"], abs=0.002
    )
    points = flight["points"]
    assert len(points["xyz"]) == len(points["rgb"]) == min(points["total"], 5000)
    assert points["total"] == report["metrics"]["points"]


def _rotation_deg(a: np.ndarray, b: np.ndarray) -> float:
    cos = (np.trace(a @ b.T) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def test_accuracy_against_ground_truth(result, survey):
    """Georeferenced poses compared with the truth directly, with no further alignment."""
    truth = read_ground_truth(survey.root)
    model = pycolmap.Reconstruction(result / "sparse" / "0")
    uploaded = json.loads((result / "image_names.json").read_text())
    rot, est, true = [], [], []
    for image in model.images.values():
        name = uploaded[image.name].rsplit("/", 1)[-1].replace(".PNG", ".jpg")
        t = truth.images[name]
        rot.append(
            _rotation_deg(image.cam_from_world().rotation.matrix(), t.cam_from_world_rotation)
        )
        est.append(image.projection_center())
        true.append(t.camera_center)
    est, true = np.array(est), np.array(true)
    extent = float(np.linalg.norm(np.ptp(true[:, :2], axis=0)))
    centre_error = np.linalg.norm(est - true, axis=1)
    i, j = np.triu_indices(len(true), 1)
    scale = np.median(
        np.linalg.norm(est[i] - est[j], axis=1) / np.linalg.norm(true[i] - true[j], axis=1)
    )
    assert len(rot) == 12
    assert np.median(rot) < 0.2
    assert np.median(centre_error) < 0.005 * extent
    assert abs(scale - 1.0) < 0.01


def test_spatial_matching_and_global_mapper(survey, tmp_path):
    """The other matching and mapping paths on the same photos: GPS neighbours + GLOMAP."""
    out = tmp_path / "out"
    settings = ["matching=spatial", "spatial_neighbors=4", "sequential_overlap=2", "mapper=global"]
    argv = ["--input", str(survey.images_dir), "--output", str(out)]
    for item in settings:
        argv += ["--set", item]
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["details"]["matching"]["mode"] == "spatial"
    assert report["metrics"]["pairs_planned"] < 12 * 11 // 2
    assert report["details"]["mapping"]["mapper"] == "global"
    assert report["metrics"]["images_registered"] == 12
    assert report["metrics"]["georeference_residual_rms_m"] < 0.5
    geo = json.loads((out / "georeference.json").read_text())
    assert geo["origin_rule"] == "mean"


def test_without_gps_the_model_keeps_its_own_frame(survey, tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    for src in sorted(survey.images_dir.iterdir()):
        with Image.open(src) as im:
            im.save(folder / src.name, quality=95)  # no exif= : GPS and focal are gone
    out = tmp_path / "out"
    assert main(["--input", str(folder), "--output", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["metrics"]["images_with_gps"] == 0
    assert report["metrics"]["images_registered"] == 12
    assert report["details"]["georeference"]["georeferenced"] is False
    assert any("GPS" in w for w in report["warnings"])
    assert any("35 mm" in w for w in report["warnings"])
    geo = json.loads((out / "georeference.json").read_text())
    assert geo["georeferenced"] is False and geo["frame"] == "model"
