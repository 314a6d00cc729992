"""The synthetic drone survey: files, EXIF, ground truth, determinism, COLMAP model, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import piexif
import pytest
from PIL import Image

from spaceport_shared.errors import SpaceportError
from spaceport_synth import (
    PRESETS,
    GeoOrigin,
    enu_to_geodetic,
    generate,
    geodetic_to_enu,
    read_ground_truth,
    write_colmap_model,
)
from spaceport_synth.cli import main as synth_main
from spaceport_synth.exif import read_gps
from spaceport_synth.flaws import Flaws
from spaceport_synth.flight import footprint_m
from spaceport_synth.rotation import matrix_from_quat_xyzw, rotation_angle_deg
from spaceport_synth.survey import build_world

ORIGIN = GeoOrigin(lat=-33.8568, lon=151.2153, alt=12.0)  # southern and eastern hemispheres


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("survey") / "out", preset="test", seed=3, origin=ORIGIN)


def test_test_preset_writes_twelve_320x240_photos_and_ground_truth(survey):
    names = sorted(p.name for p in survey.images_dir.glob("*.jpg"))
    assert names == sorted(survey.image_names)
    assert len(names) == PRESETS["test"].image_count == 12
    for name in names:
        with Image.open(survey.images_dir / name) as image:
            assert image.format == "JPEG"
            assert image.size == (320, 240)
    assert survey.ground_truth_path == survey.root / "ground_truth.json"


def test_demo_preset_plans_24_to_30_photos_at_640x480():
    world = build_world(PRESETS["demo"], seed=0)
    assert 24 <= len(world.shots) <= 30
    assert (world.camera.width, world.camera.height) == (640, 480)
    kinds = [shot.kind for shot in world.shots]
    assert kinds.count("oblique") >= 2 and kinds.count("nadir") >= 20


def test_large_preset_plans_400_photos_with_the_survey_overlap_and_gps_noise():
    spec = PRESETS["large"]
    world = build_world(spec, seed=0)
    assert len(world.shots) == spec.image_count == 400
    nadir = np.array([s.centre for s in world.shots if s.kind == "nadir"])
    across, along = footprint_m(spec)
    first_line, second_line = nadir[: spec.images_per_line], nadir[spec.images_per_line :]
    step = np.median(np.abs(np.diff(first_line[:, 1])))
    gap = np.median(second_line[: spec.images_per_line, 0]) - np.median(first_line[:, 0])
    assert 1 - step / along == pytest.approx(0.75, abs=0.03)  # jitter: 0.4 m of 11.7 m
    assert 1 - gap / across == pytest.approx(0.60, abs=0.02)
    assert 400 < np.ptp(nadir[:, 0]) + across < 480  # metres east-west: the wider area
    assert spec.flaws.any_gps_error and spec.flaws.gps_noise_m >= 1.0


def test_overlap_options_override_the_preset_s(tmp_path):
    flaws = Flaws(forward_overlap=0.5, side_overlap=0.3)
    survey = generate(tmp_path / "sparse", preset="test", seed=0, flaws=flaws)
    truth = read_ground_truth(survey.root)
    first = [truth.images[n].camera_center for n in survey.image_names[:2]]
    along = footprint_m(PRESETS["test"])[1]
    assert 1 - abs(first[1][1] - first[0][1]) / along == pytest.approx(0.5, abs=0.05)


def test_exif_gps_is_the_true_camera_centre_within_10_cm(survey):
    truth = read_ground_truth(survey.root)
    for name, image in truth.images.items():
        lat, lon, alt = read_gps(survey.images_dir / name)
        enu = geodetic_to_enu(lat, lon, alt, ORIGIN)
        assert np.linalg.norm(enu - image.camera_center) < 0.1, name


def test_exif_carries_focal_length_make_model_and_time(survey):
    cam = survey.ground_truth.camera
    times = []
    for name in survey.image_names:
        exif = piexif.load(str(survey.images_dir / name))
        assert exif["0th"][piexif.ImageIFD.Make] == b"Spaceport"
        assert exif["0th"][piexif.ImageIFD.Model]
        n, d = exif["Exif"][piexif.ExifIFD.FocalLength]
        assert n / d == pytest.approx(5.12, rel=1e-3)  # 256 px at 20 µm pixels
        # The 35 mm equivalent is by the diagonal (43.27 mm full frame), as COLMAP reads it.
        f35 = exif["Exif"][piexif.ExifIFD.FocalLengthIn35mmFilm]
        prior = f35 * math.hypot(cam.width, cam.height) / math.hypot(36, 24)
        assert prior == pytest.approx(cam.fx, rel=0.02)
        times.append(exif["Exif"][piexif.ExifIFD.DateTimeOriginal].decode())
    assert times == sorted(times) and len(set(times)) == len(times)


def test_ground_truth_poses_are_consistent_rigid_transforms(survey):
    data = json.loads(survey.ground_truth_path.read_text())
    assert data["preset"] == "test" and data["seed"] == 3
    assert data["origin"] == {"lat": ORIGIN.lat, "lon": ORIGIN.lon, "alt": ORIGIN.alt}
    camera = data["camera"]
    assert camera["model"] == "PINHOLE"
    assert camera["params"] == [256.0, 256.0, 160.0, 120.0]
    assert (camera["width"], camera["height"]) == (320, 240)
    assert list(data["images"]) == list(survey.image_names)
    for entry in data["images"].values():
        cfw, wfc = entry["cam_from_world"], entry["world_from_cam"]
        rotation, t = np.array(cfw["rotation"]), np.array(cfw["translation"])
        assert np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-9)
        assert np.linalg.det(rotation) == pytest.approx(1.0)
        assert np.allclose(matrix_from_quat_xyzw(cfw["quat_xyzw"]), rotation, atol=1e-9)
        assert np.allclose(np.array(wfc["rotation"]), rotation.T, atol=1e-12)
        centre = -rotation.T @ t
        assert np.allclose(wfc["translation"], centre) and np.allclose(
            entry["camera_center"], centre
        )
        lat, lon, alt = enu_to_geodetic(centre, ORIGIN)
        assert entry["gps"] == pytest.approx({"lat": lat, "lon": lon, "alt": alt})


def test_flight_is_a_lawnmower_at_constant_height_plus_obliques(survey):
    world = build_world(PRESETS["test"], seed=3)
    truth = survey.ground_truth
    down = np.array([0.0, 0.0, -1.0])
    for image in truth.images.values():
        centre = image.camera_center
        optical_axis = image.world_from_cam_rotation[:, 2]
        tilt = math.degrees(math.acos(np.clip(optical_axis @ down, -1, 1)))
        if image.kind == "nadir":
            height = centre[2] - world.scene.terrain.height(centre[0], centre[1])
            assert height == pytest.approx(40.0, abs=1.5)
            assert tilt < 3.0
        else:
            assert 25.0 < tilt < 45.0
    nadir = [im.camera_center for im in truth.images.values() if im.kind == "nadir"]
    lines = np.round(np.array(nadir)[:, 0] / 5.0)  # three lines, 20 m apart
    assert len(set(lines)) == 3


def test_photos_show_the_scene_from_the_true_poses(survey, tmp_path):
    """Surface points seen in one photo have the same colour where they project in another."""
    model = write_colmap_model(survey.root, tmp_path / "model", num_points=3000)
    truth = survey.ground_truth
    points, colours = _read_points(model / "points3D.txt")
    name = survey.image_names[4]  # the middle of the middle line
    image = truth.images[name]
    pixels = np.asarray(Image.open(survey.images_dir / name).convert("RGB")).astype(float)
    cam = (points - image.camera_center) @ image.world_from_cam_rotation
    u = truth.camera.fx * cam[:, 0] / cam[:, 2] + truth.camera.cx
    v = truth.camera.fy * cam[:, 1] / cam[:, 2] + truth.camera.cy
    inside = (cam[:, 2] > 0) & (u >= 1) & (u < 319) & (v >= 1) & (v < 239)
    assert inside.sum() > 500
    seen = pixels[v[inside].astype(int), u[inside].astype(int)]
    error = np.median(np.abs(seen - colours[inside]).mean(axis=1))
    shuffled = np.median(np.abs(seen - np.roll(colours[inside], 7, axis=0)).mean(axis=1))
    assert error < 0.4 * shuffled


def test_same_seed_gives_the_same_bytes_and_another_seed_other_photos(survey, tmp_path):
    again = generate(tmp_path / "again", preset="test", seed=3, origin=ORIGIN)
    for name in survey.image_names:
        assert (again.images_dir / name).read_bytes() == (survey.images_dir / name).read_bytes()
    assert again.ground_truth_path.read_text() == survey.ground_truth_path.read_text()
    other = build_world(PRESETS["test"], seed=4)
    assert not np.allclose(other.shots[0].centre, build_world(PRESETS["test"], 3).shots[0].centre)


def test_generate_refuses_a_non_empty_folder_and_an_unknown_preset(tmp_path):
    (tmp_path / "keep.txt").write_text("user data")
    with pytest.raises(SpaceportError, match="not empty"):
        generate(tmp_path, preset="test")
    with pytest.raises(SpaceportError, match="preset"):
        generate(tmp_path / "new", preset="huge")


def test_geodesy_round_trip_and_scale():
    origin = GeoOrigin(55.7, 13.2, 50.0)
    for enu in ([0.0, 0.0, 0.0], [812.3, -455.1, 37.2], [-3000.0, 2500.0, -20.0]):
        lat, lon, alt = enu_to_geodetic(np.array(enu), origin)
        assert np.allclose(geodetic_to_enu(lat, lon, alt, origin), enu, atol=1e-6)
    # One arc-minute of latitude is about one nautical mile (1852 m) at mid latitudes.
    north = geodetic_to_enu(origin.lat + 1 / 60, origin.lon, origin.alt, origin)
    assert north[1] == pytest.approx(1855.0, rel=2e-3) and abs(north[0]) < 1e-6


def test_colmap_model_holds_true_poses_points_and_photos(survey, tmp_path):
    model = write_colmap_model(survey.root, tmp_path / "colmap", num_points=2000)
    assert model == tmp_path / "colmap" / "sparse" / "0"
    copied = sorted(p.name for p in (tmp_path / "colmap" / "images").iterdir())
    assert copied == sorted(survey.image_names)
    points, colours = _read_points(model / "points3D.txt")
    assert len(points) == 2000 and colours.min() >= 0 and colours.max() <= 255
    # Points lie on the scene: between the ground's low points and the treetops.
    assert points[:, 2].min() > -15 and points[:, 2].max() < 25
    lines = [
        line
        for line in (model / "images.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    truth = survey.ground_truth
    assert len(lines) == len(truth.images)
    for line in lines:
        fields = line.split()
        qw, qx, qy, qz, tx, ty, tz = map(float, fields[1:8])
        image = truth.images[fields[9]]
        rotation = matrix_from_quat_xyzw([qx, qy, qz, qw])
        assert rotation_angle_deg(rotation, image.cam_from_world_rotation) < 1e-6
        assert np.allclose([tx, ty, tz], image.cam_from_world_translation)


def test_colmap_model_reads_in_pycolmap(survey, tmp_path):
    pycolmap = pytest.importorskip("pycolmap", reason="pycolmap is not installed")
    model = write_colmap_model(survey.root, tmp_path / "colmap", num_points=1000)
    reconstruction = pycolmap.Reconstruction(str(model))
    assert reconstruction.num_reg_images() == len(survey.image_names)
    assert len(reconstruction.points3D) == 1000
    camera = next(iter(reconstruction.cameras.values()))
    assert camera.model.name == "PINHOLE"
    assert list(camera.params) == [256.0, 256.0, 160.0, 120.0]
    for image in reconstruction.images.values():
        true = survey.ground_truth.images[image.name]
        pose = image.cam_from_world()
        assert np.allclose(pose.rotation.matrix(), true.cam_from_world_rotation, atol=1e-9)
        assert np.allclose(image.projection_center(), true.camera_center, atol=1e-6)
        # Our quaternion convention is pycolmap's (x, y, z, w).
        quat = json.loads(survey.ground_truth_path.read_text())["images"][image.name]
        q = np.array(quat["cam_from_world"]["quat_xyzw"])
        assert np.allclose(pose.rotation.quat, q, atol=1e-9) or np.allclose(
            pose.rotation.quat, -q, atol=1e-9
        )


def test_cli_writes_a_survey_with_colmap_model_and_map(tmp_path, capsys):
    out = tmp_path / "cli"
    code = synth_main(
        [str(out), "--preset", "test", "--seed", "1", "--origin", "10.5,-20.25,5", "--colmap",
         "--plot", str(tmp_path / "map.png")]
    )  # fmt: skip
    assert code == 0
    assert "wrote 12 photos" in capsys.readouterr().out
    truth = read_ground_truth(out)
    assert (truth.seed, truth.origin) == (1, GeoOrigin(10.5, -20.25, 5.0))
    assert (out / "colmap" / "sparse" / "0" / "points3D.txt").is_file()
    with Image.open(tmp_path / "map.png") as image:
        assert image.width == 640
    assert synth_main([str(out), "--preset", "test"]) == 2  # not empty
    assert "not empty" in capsys.readouterr().err


def _read_points(path: Path) -> tuple[np.ndarray, np.ndarray]:
    rows = [line.split() for line in path.read_text().splitlines() if line and line[0] != "#"]
    values = np.array([[float(v) for v in row[1:7]] for row in rows])
    return values[:, :3], values[:, 3:6]
