"""Initial points where SfM leaves few: the training views' pixels, at the depth of nearby points.

SfM triangulates what it can match, so tree canopy, water and plain roofs come out almost
without points, and densification only grows Gaussians where some already are: those areas
stay a flat blur. Here each training view is sampled on a grid of `grid` cells along its longer
side; where no SfM point projects within a cell of a sample, the sample is lifted to 3D at the
median depth of the nearest projected SfM points (the surface there is mostly continuous with
its surroundings) and coloured by the photo's pixel. The points cover what the photos see.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from spaceport_train.scene_data import View

NEIGHBOURS = 8  # projected SfM points whose median depth a sample takes
MIN_VISIBLE = NEIGHBOURS  # a view seeing fewer SfM points gets no fill (no depth to borrow)


def project(points: np.ndarray, view: View) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates [P, 2] and depths [P] of `points` [P, 3] (training frame) in `view`."""
    viewmat = view.viewmat.numpy().astype(np.float64)
    cam = points @ viewmat[:3, :3].T + viewmat[:3, 3]
    depth = cam[:, 2]
    k = view.K.numpy().astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = cam[:, :2] / depth[:, None] * np.diag(k)[:2] + k[:2, 2]
    return uv, depth


def view_fill(
    points: np.ndarray,  # [P, 3] training frame
    view: View,
    grid: int,  # samples along the longer image side
) -> tuple[np.ndarray, np.ndarray]:
    """The fill points [M, 3] and colours [M, 3] of one view: its samples far from any SfM point."""
    uv, depth = project(points, view)
    w, h = view.width, view.height
    seen = (depth > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    if seen.sum() < MIN_VISIBLE:
        return np.zeros((0, 3)), np.zeros((0, 3))
    uv, depth = uv[seen], depth[seen]
    cell = max(w, h) / grid
    us = np.arange(cell / 2, w, cell)
    vs = np.arange(cell / 2, h, cell)
    samples = np.stack(np.meshgrid(us, vs), axis=-1).reshape(-1, 2)  # [S, 2] pixel centres
    dist, nearest = cKDTree(uv).query(samples, k=NEIGHBOURS)
    gap = dist[:, 0] > cell  # no SfM point within a cell: the sample is filled
    samples = samples[gap]
    sample_depth = np.median(depth[nearest[gap]], axis=1)
    k = view.K.numpy().astype(np.float64)
    rays = np.column_stack(
        [(samples - k[:2, 2]) / np.diag(k)[:2], np.ones(len(samples))]
    )  # [M, 3] camera frame, z = 1
    cam = rays * sample_depth[:, None]
    viewmat = view.viewmat.numpy().astype(np.float64)
    world = (cam - viewmat[:3, 3]) @ viewmat[:3, :3]  # R^T (x_cam - t)
    cols = np.clip(samples[:, 0].astype(int), 0, w - 1)
    rows = np.clip(samples[:, 1].astype(int), 0, h - 1)
    colors = view.image.numpy()[rows, cols].astype(np.float64)
    return world, colors


def fill_points(
    points: np.ndarray,  # [P, 3] training frame
    colors: np.ndarray,  # [P, 3] in [0, 1]
    views: list[View],
    grid: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The SfM points followed by every view's fill (float32), or them alone where `grid` is 0."""
    if grid <= 0 or not views:
        return points, colors
    filled = [view_fill(points, view, grid) for view in views]
    all_points = np.concatenate([points, *(p for p, _ in filled)]).astype(np.float32)
    all_colors = np.concatenate([colors, *(c for _, c in filled)]).astype(np.float32)
    return all_points, all_colors
