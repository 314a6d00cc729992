"""`flight.png`: the recovered camera path drawn top-down over the sparse points."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display in a processing job

import matplotlib.pyplot as plt
import numpy as np
import pycolmap

_MAX_POINTS = 200_000  # enough to show the ground; keeps the PNG quick to draw


def plot_flight(
    model: pycolmap.Reconstruction,
    capture_order: list[str],
    path: Path,
    georeferenced: bool,
    title: str,
) -> None:
    """Top-down (x, y) view: points in their colours, cameras joined in capture order."""
    points = np.array([p.xyz for p in model.points3D.values()]).reshape(-1, 3)  # [P, 3]
    colors = np.array([p.color for p in model.points3D.values()]).reshape(-1, 3) / 255.0
    if len(points) > _MAX_POINTS:
        keep = np.random.default_rng(0).choice(len(points), _MAX_POINTS, replace=False)
        points, colors = points[keep], colors[keep]
    by_name = {img.name: img for img in model.images.values() if img.has_pose}
    ordered = [by_name[n] for n in capture_order if n in by_name]
    centres = np.array([img.projection_center() for img in ordered]).reshape(-1, 3)  # [C, 3]
    # viewing direction: the camera's +z axis in the world, drawn as a short tick
    looks = np.array([img.viewing_direction() for img in ordered]).reshape(-1, 3)

    fig, ax = plt.subplots(figsize=(8, 8), dpi=110)
    if len(points):
        ax.scatter(points[:, 0], points[:, 1], s=1.0, c=colors, linewidths=0, alpha=0.8)
    if len(centres):
        ax.plot(centres[:, 0], centres[:, 1], "-", color="tab:red", lw=1.2, label="camera path")
        ax.scatter(centres[:, 0], centres[:, 1], s=14, color="tab:red", zorder=3)
        span = np.ptp(centres[:, :2], axis=0).max() if len(centres) > 1 else 1.0
        tick = 0.04 * (span or 1.0)
        ax.quiver(
            centres[:, 0],
            centres[:, 1],
            looks[:, 0] * tick,
            looks[:, 1] * tick,
            angles="xy",
            scale_units="xy",
            scale=1,
            color="tab:red",
            width=0.003,
        )
        ax.annotate("start", centres[0, :2], textcoords="offset points", xytext=(4, 4))
    unit = "m" if georeferenced else "model units"
    ax.set_xlabel(f"east ({unit})" if georeferenced else f"x ({unit})")
    ax.set_ylabel(f"north ({unit})" if georeferenced else f"y ({unit})")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title)
    ax.grid(True, lw=0.3)
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
