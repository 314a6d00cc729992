"""Ray intersections with the scene's solids, vectorised over rays.

Rays are given as components (ox, oy, oz, dx, dy, dz): each a float array [N] or a scalar, so a
camera's rays share one origin and shadow rays share one direction without copies.
"""

from __future__ import annotations

import math

import numpy as np

from .scene import Building, Tree

_EPS = 1e-4  # metres along the ray: ignore hits at the ray's own start (shadow rays)


def ray_box(b: Building, ox, oy, oz, dx, dy, dz) -> tuple[np.ndarray, np.ndarray]:
    """Entry distance t [N] (inf on a miss) and face [N]: 0/1 = local -x/+x, 2/3 = -y/+y,
    4/5 = bottom/top."""
    c, s = math.cos(b.yaw), math.sin(b.yaw)
    rx, ry = ox - b.cx, oy - b.cy
    lo = (c * rx + s * ry, -s * rx + c * ry, oz - 0.5 * (b.z_base + b.z_top))
    ld = (c * dx + s * dy, -s * dx + c * dy, dz)
    half = (b.half_length, b.half_width, 0.5 * (b.z_top - b.z_base))
    t_near, t_far, face = None, None, None
    with np.errstate(divide="ignore", invalid="ignore"):
        for axis in range(3):
            d = np.where(np.abs(ld[axis]) < 1e-12, 1e-12, ld[axis])
            t1 = (-half[axis] - lo[axis]) / d
            t2 = (half[axis] - lo[axis]) / d
            tn, tf = np.minimum(t1, t2), np.maximum(t1, t2)
            axis_face = 2 * axis + (d < 0)  # entering through the side the ray comes from
            if t_near is None:
                t_near, t_far, face = tn, tf, axis_face
            else:
                face = np.where(tn > t_near, axis_face, face)
                t_near, t_far = np.maximum(t_near, tn), np.minimum(t_far, tf)
    hit = (t_near <= t_far) & (t_near > _EPS)
    return np.where(hit, t_near, np.inf), face


def ray_ellipsoid(tree: Tree, ox, oy, oz, dx, dy, dz) -> np.ndarray:
    """Entry distance t [N] (inf on a miss)."""
    (cx, cy, cz), (rx, ry, rz) = tree.centre, tree.radii
    px, py, pz = (ox - cx) / rx, (oy - cy) / ry, (oz - cz) / rz
    qx, qy, qz = dx / rx, dy / ry, dz / rz
    a = qx * qx + qy * qy + qz * qz
    b = px * qx + py * qy + pz * qz
    c = px * px + py * py + pz * pz - 1.0
    disc = b * b - a * c
    with np.errstate(invalid="ignore"):
        t = (-b - np.sqrt(disc)) / a
    return np.where((disc > 0) & (t > _EPS), t, np.inf)
