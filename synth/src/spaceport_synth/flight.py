"""The flight plan: a lawnmower nadir survey plus a few oblique shots, as mapping drones fly."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .presets import Preset
from .rotation import rotation_about_axis

_DOWN = np.array([0.0, 0.0, -1.0])
_UP = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class Shot:
    """One photo: where the camera is and how it is turned, in local ENU metres."""

    name: str
    kind: str  # "nadir" or "oblique"
    world_from_cam: np.ndarray  # [3, 3] columns: camera x (right), y (down), z (forward) in ENU
    centre: np.ndarray  # [3] camera centre, ENU metres

    @property
    def cam_from_world_rotation(self) -> np.ndarray:
        return self.world_from_cam.T

    @property
    def cam_from_world_translation(self) -> np.ndarray:
        return -self.world_from_cam.T @ self.centre


def nadir_rotation(travel: np.ndarray) -> np.ndarray:
    """Camera looking straight down with the image top towards the travel direction [3]."""
    y_cam = -np.asarray(travel, dtype=np.float64)
    x_cam = np.cross(y_cam, _DOWN)
    return np.stack([x_cam, y_cam, _DOWN], axis=1)


def look_at_rotation(centre: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Camera at `centre` looking at `target` with a level horizon (no roll)."""
    z_cam = target - centre
    z_cam = z_cam / np.linalg.norm(z_cam)
    x_cam = np.cross(z_cam, _UP)
    x_cam /= np.linalg.norm(x_cam)
    return np.stack([x_cam, np.cross(z_cam, x_cam), z_cam], axis=1)


def footprint_m(preset: Preset) -> tuple[float, float]:
    """Ground footprint of a nadir photo on flat ground: (across track, along track) metres."""
    h = preset.altitude_agl_m
    return preset.width / preset.focal_px * h, preset.height / preset.focal_px * h


def plan_flight(
    preset: Preset, ground_height: Callable[[float, float], float], rng: np.random.Generator
) -> list[Shot]:
    """Lawnmower lines south-north stepping east, centred on the ENU origin, then obliques.

    The drone holds `altitude_agl_m` over the ground below it; attitude and position carry
    the small jitter a real gimbal and GNSS have.
    """
    across, along = footprint_m(preset)
    line_spacing = (1.0 - preset.side_overlap) * across
    shot_spacing = (1.0 - preset.forward_overlap) * along
    xs = (np.arange(preset.lines) - (preset.lines - 1) / 2) * line_spacing
    ys = (np.arange(preset.images_per_line) - (preset.images_per_line - 1) / 2) * shot_spacing

    shots: list[Shot] = []
    for line, x in enumerate(xs):
        northbound = line % 2 == 0
        travel = np.array([0.0, 1.0 if northbound else -1.0, 0.0])
        for y in ys if northbound else ys[::-1]:
            pos = np.array([x, y, 0.0]) + np.append(rng.normal(0.0, 0.4, 2), 0.0)
            pos[2] = ground_height(pos[0], pos[1]) + preset.altitude_agl_m + rng.normal(0.0, 0.3)
            rotation = nadir_rotation(travel) @ _attitude_jitter(rng, 1.5, 3.0)
            shots.append(Shot(f"IMG_{len(shots) + 1:04d}.jpg", "nadir", rotation, pos))

    target = np.array([0.0, 0.0, ground_height(0.0, 0.0)])
    radius = preset.altitude_agl_m * math.tan(math.radians(preset.oblique_tilt_deg))
    for k in range(preset.oblique_count):
        azimuth = math.radians(45.0 + 360.0 * k / preset.oblique_count)
        x, y = radius * math.sin(azimuth), radius * math.cos(azimuth)
        pos = np.array([x, y, ground_height(x, y) + preset.altitude_agl_m])
        rotation = look_at_rotation(pos, target) @ _attitude_jitter(rng, 1.0, 1.0)
        shots.append(Shot(f"IMG_{len(shots) + 1:04d}.jpg", "oblique", rotation, pos))
    return shots


def _attitude_jitter(rng: np.random.Generator, tilt_deg: float, yaw_deg: float) -> np.ndarray:
    """Small rotation in the camera frame: tilt about x and y, yaw about the optical axis."""
    rx, ry = np.radians(rng.normal(0.0, tilt_deg / 2, 2))
    rz = math.radians(rng.normal(0.0, yaw_deg / 2))
    return (
        rotation_about_axis(np.array([1.0, 0, 0]), rx)
        @ rotation_about_axis(np.array([0, 1.0, 0]), ry)
        @ rotation_about_axis(np.array([0, 0, 1.0]), rz)
    )
