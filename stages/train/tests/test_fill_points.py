"""The initial fill: points lifted from the views exactly where SfM left none, on the surface."""

from __future__ import annotations

import numpy as np
import torch

from spaceport_train.fill_points import fill_points, project, view_fill
from spaceport_train.scene_data import View


def _nadir_view(width: int = 64, height: int = 48, altitude: float = 2.0) -> View:
    """A camera `altitude` above the ground plane z = 0, looking straight down; a red image."""
    f = 40.0
    rot = np.diag([1.0, -1.0, -1.0])  # camera z down, y south: a nadir shot
    centre = np.array([0.0, 0.0, altitude])
    viewmat = np.eye(4)
    viewmat[:3, :3] = rot
    viewmat[:3, 3] = -rot @ centre
    image = torch.zeros((height, width, 3))
    image[..., 0] = 1.0
    return View(
        name="v.jpg",
        image=image,
        K=torch.tensor([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]]),
        viewmat=torch.from_numpy(viewmat).float(),
        cam_from_world=viewmat[:3],
    )


def _ground_with_hole(hole_radius: float) -> np.ndarray:
    """A dense grid of points on z = 0 over the view's footprint, none within the hole."""
    xs = np.linspace(-2.0, 2.0, 81)
    grid = np.stack(np.meshgrid(xs, xs), axis=-1).reshape(-1, 2)
    grid = grid[np.linalg.norm(grid, axis=1) > hole_radius]
    return np.column_stack([grid, np.zeros(len(grid))])


def test_project_puts_the_point_below_the_camera_at_the_centre():
    view = _nadir_view()
    uv, depth = project(np.array([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0]]), view)
    np.testing.assert_allclose(uv[0], [32.0, 24.0], atol=1e-9)
    np.testing.assert_allclose(depth, [2.0, 2.0], atol=1e-9)
    assert uv[1, 0] == 32.0 + 0.5 / 2.0 * 40.0  # east is +u for this camera


def test_fill_lands_in_the_hole_on_the_surface_with_the_photo_colour():
    view = _nadir_view()
    points = _ground_with_hole(hole_radius=0.6)
    filled, colors = view_fill(points, view, grid=32)
    assert len(filled) > 10  # the hole is ~24 px across at 2 px per cell
    # Only inside the hole (its rim within a cell of 2 px = 0.1 m), on the plane.
    assert np.linalg.norm(filled[:, :2], axis=1).max() < 0.6
    np.testing.assert_allclose(filled[:, 2], 0.0, atol=1e-9)
    np.testing.assert_allclose(colors, np.tile([1.0, 0.0, 0.0], (len(colors), 1)))


def test_no_fill_where_sfm_covers_the_view_or_too_few_points_are_seen():
    view = _nadir_view()
    dense = _ground_with_hole(hole_radius=0.0)
    assert len(view_fill(dense, view, grid=32)[0]) == 0
    behind = np.array([[0.0, 0.0, 5.0]] * 20)  # above the camera: none visible
    assert len(view_fill(behind, view, grid=32)[0]) == 0


def test_fill_points_keeps_the_sfm_points_first_and_is_off_at_zero():
    view = _nadir_view()
    points = _ground_with_hole(hole_radius=0.6)
    colors = np.full((len(points), 3), 0.5)
    same_points, same_colors = fill_points(points, colors, [view], grid=0)
    assert same_points is points and same_colors is colors
    all_points, all_colors = fill_points(points, colors, [view, view], grid=32)
    one = len(view_fill(points, view, grid=32)[0])
    assert len(all_points) == len(points) + 2 * one and all_points.dtype == np.float32
    np.testing.assert_allclose(all_points[: len(points)], points, atol=1e-6)
    np.testing.assert_allclose(all_colors[: len(points)], 0.5)
