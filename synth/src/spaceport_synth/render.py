"""Ray casting of the scene through a pinhole camera, supersampled and box-filtered.

numpy only: rays are whole-image arrays; each solid is tested only against the rays inside its
projected bounding rectangle, which keeps the cost close to one pass over the image.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .ground import GroundTexture
from .intersect import ray_box, ray_ellipsoid
from .noise import fractal_noise
from .scene import Building, Scene

_SKY = np.array([0.62, 0.74, 0.92], dtype=np.float32)
_AMBIENT, _DIRECT = 0.42, 0.78


@dataclass(frozen=True)
class PinholeCamera:
    """COLMAP PINHOLE intrinsics; pixel (0, 0)'s centre is at image point (0.5, 0.5)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float


@dataclass(frozen=True)
class DetailTexture:
    """Grey fine-grained noise (~1 ± 0.3) that buildings and trees read at their own surface
    coordinates, so their surfaces carry stable, non-repeating detail."""

    values: np.ndarray  # [n, n] float32
    texel: float

    def sample(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        n = self.values.shape[0]
        gu, gv = np.mod(u / self.texel, n - 1), np.mod(v / self.texel, n - 1)
        # float32 mod of a tiny negative number can round up to n - 1 itself: keep the 2x2
        # neighbourhood inside the grid
        iu = np.minimum(np.floor(gu).astype(np.int64), n - 2)
        iv = np.minimum(np.floor(gv).astype(np.int64), n - 2)
        fu, fv = (gu - iu).astype(np.float32), (gv - iv).astype(np.float32)
        flat = self.values.ravel()
        i00 = iv * n + iu
        south = flat[i00] + (flat[i00 + 1] - flat[i00]) * fu
        north = flat[i00 + n] + (flat[i00 + n + 1] - flat[i00 + n]) * fu
        return south + (north - south) * fv


def make_detail_texture(seed: int, texel: float) -> DetailTexture:
    n = math.ceil(96.0 / texel)
    extent = (0.0, 0.0, n * texel, n * texel)
    octaves = [(0.1, 0.12), (0.25, 0.12), (0.6, 0.1), (1.5, 0.08)]
    values = 1.0 + fractal_noise((seed, 60), extent, (n, n), octaves, min_cell_m=2 * texel)
    return DetailTexture(values.astype(np.float32), texel)


def render(
    scene: Scene,
    ground: GroundTexture,
    detail: DetailTexture,
    camera: PinholeCamera,
    world_from_cam: np.ndarray,  # [3, 3]
    centre: np.ndarray,  # [3] ENU metres
    supersample: int,
) -> np.ndarray:
    """The photo [height, width, 3] uint8."""
    s = supersample
    rows, cols = camera.height * s, camera.width * s
    # Ray through sub-sample (i, j): image point ((j + 0.5) / s, (i + 0.5) / s).
    u = ((np.arange(cols, dtype=np.float32) + 0.5) / s - camera.cx) / camera.fx
    v = ((np.arange(rows, dtype=np.float32) + 0.5) / s - camera.cy) / camera.fy
    r = world_from_cam.astype(np.float32)
    # Unnormalised directions with camera-z = 1, so t along them is the depth.
    dx = r[0, 0] * u[None, :] + r[0, 1] * v[:, None] + r[0, 2]
    dy = r[1, 0] * u[None, :] + r[1, 1] * v[:, None] + r[1, 2]
    dz = r[2, 0] * u[None, :] + r[2, 1] * v[:, None] + r[2, 2]
    ox, oy, oz = (float(c) for c in centre)

    solids = (*scene.buildings, *scene.trees)
    t, solid, face = nearest_hit(
        scene, ox, oy, oz, dx, dy, dz,
        window=lambda body: _screen_window(body.corners(), world_from_cam, centre, camera, s),
    )  # fmt: skip

    px, py, pz = ox + t * dx, oy + t * dy, oz + t * dz
    hits = np.isfinite(t)
    footprint = np.zeros_like(t)
    footprint[hits] = _footprint(scene, camera, s, t[hits], dx[hits], dy[hits], dz[hits],
                                 px[hits], py[hits])  # fmt: skip
    colour = shade(scene, ground, detail, solids, solid, face, px, py, pz, footprint)
    image = colour.reshape(camera.height, s, camera.width, s, 3).mean(axis=(1, 3))
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def nearest_hit(
    scene: Scene,
    ox, oy, oz, dx, dy, dz,
    window: Callable[[object], tuple[slice, ...] | None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """First hit of each ray: depth t (inf: sky), solid index (-1: ground; buildings then
    trees) and box face, each shaped like dx.

    `window(body)` may narrow a solid's test to the slice of the ray array that can see it
    (None: no ray can).
    """
    t = _terrain_hit(scene, ox, oy, oz, dx, dy, dz)
    solid = np.full(t.shape, -1, dtype=np.int32)
    face = np.zeros(t.shape, dtype=np.int32)
    for index, body in enumerate((*scene.buildings, *scene.trees)):
        sl = window(body) if window else (Ellipsis,)
        if sl is None:
            continue
        args = (_part(ox, sl), _part(oy, sl), _part(oz, sl), dx[sl], dy[sl], dz[sl])
        if isinstance(body, Building):
            t_hit, f = ray_box(body, *args)
        else:
            t_hit, f = ray_ellipsoid(body, *args), 0
        closer = t_hit < t[sl]
        t[sl] = np.where(closer, t_hit, t[sl])
        solid[sl] = np.where(closer, index, solid[sl])
        face[sl] = np.where(closer, f, face[sl])
    return t, solid, face


def _part(value, sl):
    return value[sl] if isinstance(value, np.ndarray) else value


def _terrain_hit(scene: Scene, ox, oy, oz, dx, dy, dz) -> np.ndarray:
    """Depth t [dz's shape] where each ray meets the height field (inf for rays that rise).

    Newton's method on f(t) = oz + t dz - h(o + t d): the terrain is smooth and gentle, so a
    few steps from the flat-ground guess converge to well below a millimetre; rays drop out
    of the iteration as they converge.
    """
    terrain = scene.terrain
    shape = np.shape(dz)
    o = [np.ravel(v) if isinstance(v, np.ndarray) else v for v in (ox, oy, oz)]
    d = [np.ravel(v).astype(np.float32) for v in (dx, dy, dz)]
    t = np.full(d[2].shape, np.inf, dtype=np.float32)
    active = np.flatnonzero(d[2] < -1e-6)
    ray_oz, ray_dz = _pick(o[2], active), d[2][active]
    t_active = ((ray_oz - float(np.median(terrain.heights))) / -ray_dz).astype(np.float32)
    for _ in range(10):
        ray_ox, ray_oy, ray_oz = (_pick(v, active) for v in o)
        ray_dx, ray_dy, ray_dz = (v[active] for v in d)
        h, hx, hy = terrain.height_and_gradient(
            ray_ox + t_active * ray_dx, ray_oy + t_active * ray_dy
        )
        f = ray_oz + t_active * ray_dz - h
        step = f / np.minimum(ray_dz - hx * ray_dx - hy * ray_dy, -1e-3)
        t_active = np.maximum(t_active - step, 0.0).astype(np.float32)
        t[active] = t_active
        moving = np.abs(step) > 1e-5
        active, t_active = active[moving], t_active[moving]
        if active.size == 0:
            break
    return t.reshape(shape)


def _pick(value, index: np.ndarray):
    return value[index] if isinstance(value, np.ndarray) else value


def _screen_window(corners, world_from_cam, centre, camera: PinholeCamera, s: int):
    """Slices of the sub-sample grid that can see a solid with these corners [8, 3]."""
    cam = (corners - centre) @ world_from_cam  # rows: camera-frame corners
    if np.all(cam[:, 2] <= 0.01):
        return None
    rows, cols = camera.height * s, camera.width * s
    if np.any(cam[:, 2] <= 0.01):
        return slice(0, rows), slice(0, cols)
    x = (camera.fx * cam[:, 0] / cam[:, 2] + camera.cx) * s
    y = (camera.fy * cam[:, 1] / cam[:, 2] + camera.cy) * s
    c0, c1 = max(0, int(x.min()) - 2), min(cols, math.ceil(x.max()) + 2)
    r0, r1 = max(0, int(y.min()) - 2), min(rows, math.ceil(y.max()) + 2)
    if c0 >= c1 or r0 >= r1:
        return None
    return slice(r0, r1), slice(c0, c1)


def _footprint(scene, camera, s, t, dx, dy, dz, px, py) -> np.ndarray:
    """Ground length (metres) one sub-sample covers, for the texture's mip level."""
    _, hx, hy = scene.terrain.height_and_gradient(px, py)
    length = np.sqrt(dx * dx + dy * dy + dz * dz)
    # Incidence on the surface: a grazing ray's footprint stretches along the ground.
    cos_incidence = np.abs(-hx * dx - hy * dy + dz) / (length * np.sqrt(1 + hx * hx + hy * hy))
    return t * length / (camera.fx * s) / np.sqrt(np.maximum(cos_incidence, 0.05))


def shade(
    scene: Scene,
    ground: GroundTexture,
    detail: DetailTexture,
    solids: tuple,
    solid: np.ndarray,  # [...] index into solids, -1 = ground
    face: np.ndarray,  # [...] box face of building hits
    px: np.ndarray,  # [...] hit points, ENU metres (nan/inf where the ray missed)
    py: np.ndarray,
    pz: np.ndarray,
    footprint: np.ndarray,  # [...] metres per sample on the ground
) -> np.ndarray:
    """Colour [..., 3] float32 of each hit: ground from the baked texture, solids shaded."""
    colour = np.empty((*solid.shape, 3), dtype=np.float32)
    sky = ~np.isfinite(pz)
    colour[sky] = _SKY
    on_ground = (solid < 0) & ~sky
    if on_ground.any():
        colour[on_ground] = ground.sample(px[on_ground], py[on_ground], footprint[on_ground])
    for index, body in enumerate(solids):
        mask = solid == index
        if not mask.any():
            continue
        if isinstance(body, Building):
            colour[mask] = _building_colour(
                body, detail, scene.sun, face[mask], px[mask], py[mask], pz[mask]
            )
        else:
            colour[mask] = _tree_colour(body, detail, scene.sun, px[mask], py[mask], pz[mask])
    return colour


_FACE_NORMALS = np.array(
    [[-1, 0, 0], [1, 0, 0], [0, -1, 0], [0, 1, 0], [0, 0, -1], [0, 0, 1]], dtype=np.float32
)


def _building_colour(b: Building, detail: DetailTexture, sun, face, px, py, pz) -> np.ndarray:
    c, s = math.cos(b.yaw), math.sin(b.yaw)
    lx = c * (px - b.cx) + s * (py - b.cy)  # box-local coordinates of the hit points
    ly = -s * (px - b.cx) + c * (py - b.cy)
    ox, oy = b.texture_offset
    roof = face == 5
    along = np.where(face < 2, ly, lx)  # horizontal coordinate on a wall
    u = np.where(roof, lx, along + 9.0 * face)
    w = np.where(roof, ly, pz)
    grain = detail.sample(u + ox, w + oy)

    # Roof: tile courses, a lighter parapet along the edges, fine grain.
    courses = 0.82 + 0.18 * (0.5 + 0.5 * np.sin(2 * math.pi * ly / 0.42))
    edge = np.minimum(b.half_length - np.abs(lx), b.half_width - np.abs(ly))
    roof_tone = np.where(edge < 0.35, 1.3, courses) * grain
    # Walls: storeys of windows.
    storey = np.mod(pz - b.z_base, 3.0) / 3.0
    bay = np.mod(along + b.half_length, 2.6) / 2.6
    window = (storey > 0.4) & (storey < 0.8) & (bay > 0.3) & (bay < 0.7)
    roof_rgb = np.array(b.roof_rgb, dtype=np.float32)
    wall_rgb = np.array(b.wall_rgb, dtype=np.float32)
    glass = np.array([0.13, 0.16, 0.21], dtype=np.float32)
    albedo = np.where(
        roof[:, None],
        roof_rgb * roof_tone[:, None],
        np.where(window[:, None], glass * grain[:, None], wall_rgb * grain[:, None]),
    )
    local = _FACE_NORMALS[face]
    normal_x, normal_y = c * local[:, 0] - s * local[:, 1], s * local[:, 0] + c * local[:, 1]
    lambert = np.maximum(normal_x * sun[0] + normal_y * sun[1] + local[:, 2] * sun[2], 0.0)
    return albedo * (_AMBIENT + _DIRECT * lambert)[:, None]


def _tree_colour(tree, detail: DetailTexture, sun, px, py, pz) -> np.ndarray:
    (cx, cy, cz), (rx, ry, rz) = tree.centre, tree.radii
    nx, ny, nz = (px - cx) / rx**2, (py - cy) / ry**2, (pz - cz) / rz**2
    norm = np.sqrt(nx * nx + ny * ny + nz * nz)
    nx, ny, nz = nx / norm, ny / norm, nz / norm
    # Leaf clumps: detail read at 3x scale on the two planes the surface faces most (a sphere
    # has no seam-free flat mapping), pushed to high contrast.
    top = detail.sample(3 * px, 3 * py)
    side = detail.sample(3 * (px - py) + 37.0, 3 * pz + 11.0)
    blend = np.abs(nz)
    leaves = np.clip(1.0 + 2.2 * (top * blend + side * (1 - blend) - 1.0), 0.35, 1.6)
    lambert = np.maximum(nx * sun[0] + ny * sun[1] + nz * sun[2], 0.0)
    occlusion = 0.65 + 0.35 * (nz + 1) / 2  # the crown's underside sees less sky
    shade = (_AMBIENT * occlusion + _DIRECT * lambert) * leaves
    return np.array(tree.rgb, dtype=np.float32) * shade[:, None]
