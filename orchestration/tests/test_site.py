"""The results page without a browser: figures, the start camera, the run folder's top level."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from spaceport_orchestration.site.page import FIGURES, SiteInputs, build_site, figures
from spaceport_orchestration.site.viewer import ENU_EULER, frame_camera, viewer_settings
from spaceport_orchestration.web.view import check_run_folder
from spaceport_shared.errors import SpaceportError


def _flight(georeferenced=True):
    east, north = np.meshgrid(np.linspace(-30, 50, 25), np.linspace(-45, 35, 20))
    ground = np.c_[east.ravel(), north.ravel(), np.full(500, -60.0)]  # 80 x 80 m at z = -60
    cameras = [
        {"name": f"IMG_{i}.jpg", "placed": True, "sfm": [i * 5.0, 0, 0], "gps": None}
        for i in range(5)
    ]
    return {
        "georeferenced": georeferenced,
        "cameras": cameras,
        "points": {"xyz": ground.tolist(), "rgb": [[0, 0, 0]] * 500, "total": 500},
    }


def test_start_camera_looks_down_at_the_ground_from_above_upright():
    camera, euler = frame_camera(_flight())
    assert euler == ENU_EULER
    # world = (east, up, -north): the target is the ground's median, the camera above it
    assert camera.target[0] == pytest.approx(10, abs=0.1)
    assert camera.target[1] == pytest.approx(-60)
    assert camera.target[2] == pytest.approx(5, abs=0.1)
    height = camera.position[1] - camera.target[1]
    back = camera.position[2] - camera.target[2]  # +z world = south: looking north
    assert height > 0 and back > 0
    assert math.degrees(math.atan2(height, back)) == pytest.approx(55, abs=0.5)
    # the 5..95 % ground extent fits the field of view
    distance = math.hypot(height, back)
    assert distance * math.tan(math.radians(camera.fov / 2)) > 0.5 * 72 * math.sqrt(2)
    settings = viewer_settings(camera)
    assert settings["version"] == 2
    assert settings["cameras"][0]["initial"]["position"] == list(camera.position)


def test_an_ungeoreferenced_model_starts_at_a_photo_pose():
    camera, euler = frame_camera(_flight(georeferenced=False))
    assert euler == (0.0, 0.0, 180.0)  # the viewer's own turn for COLMAP frames
    assert camera.position == (-10.0, -0.0, 0.0)  # the middle photo, x and y flipped
    assert frame_camera(None) == (None, (0.0, 0.0, 180.0))


def test_figures_take_the_reports_values_and_skip_what_is_missing():
    reports = {
        "sfm": {"metrics": {"points": 2326, "mean_reprojection_error_px": float("nan")}},
        "compress": {"metrics": {"ratio": 11.8}},
    }
    shown = {f"{f['stage']}.{f['source']}": f["value"] for f in figures(reports)}
    assert shown == {"sfm.metrics.points": 2326, "compress.metrics.ratio": 11.8}
    assert len({(f.stage, f.source) for f in FIGURES}) == len(FIGURES)


def test_a_run_without_a_model_still_gets_a_page(tmp_path):
    index = build_site(SiteInputs(title="t", reports={"sfm": {"metrics": {"points": 3}}}), tmp_path)
    data = (tmp_path / "data.js").read_text()
    assert index.name == "index.html" and index.is_file()
    page = json.loads(data.removeprefix("window.SPACEPORT_PAGE = ").rstrip().rstrip(";"))
    assert page["viewer"] is None and page["figures"][0]["value"] == 3
    assert not (tmp_path / "viewer.html").exists()


def test_view_refuses_a_folder_without_a_page(tmp_path):
    with pytest.raises(SpaceportError, match="holds no results page"):
        check_run_folder(tmp_path)
