"""The 3D scene: rolling terrain, roads, box buildings and tree crowns, all in ENU metres.

Geometry only (cheap, a fraction of a second); the ground's colours are baked in `ground.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .noise import fractal_noise

SUN_AZIMUTH_DEG = 140.0  # from north, clockwise: a south-east morning sun
SUN_ELEVATION_DEG = 50.0


def sun_direction() -> np.ndarray:
    """Unit vector [3] from the ground towards the sun, ENU."""
    az, el = math.radians(SUN_AZIMUTH_DEG), math.radians(SUN_ELEVATION_DEG)
    return np.array([math.sin(az) * math.cos(el), math.cos(az) * math.cos(el), math.sin(el)])


@dataclass(frozen=True)
class Terrain:
    """Height field z = h(x, y) on a regular grid, bilinearly interpolated."""

    heights: np.ndarray  # [rows (y), cols (x)] float32 metres
    x0: float  # world x of column 0
    y0: float  # world y of row 0
    spacing: float  # metres between grid points

    def height_and_gradient(
        self, x: np.ndarray, y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """h, dh/dx, dh/dy at points [N] (clamped to the grid)."""
        rows, cols = self.heights.shape
        gx = (x - self.x0) / self.spacing
        gy = (y - self.y0) / self.spacing
        ix = np.clip(np.floor(gx), 0, cols - 2).astype(np.int32)
        iy = np.clip(np.floor(gy), 0, rows - 2).astype(np.int32)
        fx = np.clip(gx - ix, 0.0, 1.0).astype(np.float32)
        fy = np.clip(gy - iy, 0.0, 1.0).astype(np.float32)
        flat = self.heights.ravel()
        i00 = iy * cols + ix
        h00, h10, h01, h11 = (np.take(flat, i) for i in (i00, i00 + 1, i00 + cols, i00 + cols + 1))
        south = h00 + (h10 - h00) * fx
        north = h01 + (h11 - h01) * fx
        h = south + (north - south) * fy
        dhdx = ((h10 - h00) * (1 - fy) + (h11 - h01) * fy) / self.spacing
        dhdy = (north - south) / self.spacing
        return h, dhdx, dhdy

    def height(self, x: float, y: float) -> float:
        h, _, _ = self.height_and_gradient(np.array([x]), np.array([y]))
        return float(h[0])


@dataclass(frozen=True)
class Road:
    """A gently winding road: centre line across = offset + amplitude * sin(2π along / wl + φ)."""

    east_west: bool  # runs along x (else along y)
    offset: float
    amplitude: float
    wavelength: float
    phase: float
    width: float

    def distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Approximate distance (metres) from points to the centre line."""
        along, across = (x, y) if self.east_west else (y, x)
        k = 2 * math.pi / self.wavelength
        centre = self.offset + self.amplitude * np.sin(k * along + self.phase)
        slope = self.amplitude * k * np.cos(k * along + self.phase)
        return np.abs(across - centre) / np.sqrt(1.0 + slope * slope)

    def along(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return x if self.east_west else y


@dataclass(frozen=True)
class Building:
    """A box: footprint centred on (cx, cy), turned by `yaw` (radians, x towards y)."""

    cx: float
    cy: float
    half_length: float  # along the box's local x
    half_width: float  # along the box's local y
    yaw: float
    z_base: float  # below the ground, so no gap shows on a slope
    z_top: float
    roof_rgb: tuple[float, float, float]
    wall_rgb: tuple[float, float, float]
    texture_offset: tuple[float, float]  # where this box reads the shared detail texture

    def corners(self) -> np.ndarray:
        """The 8 corners [8, 3] in world coordinates."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        out = []
        for lx in (-self.half_length, self.half_length):
            for ly in (-self.half_width, self.half_width):
                for z in (self.z_base, self.z_top):
                    out.append([self.cx + c * lx - s * ly, self.cy + s * lx + c * ly, z])
        return np.array(out)


@dataclass(frozen=True)
class Tree:
    """A tree crown: an axis-aligned ellipsoid sitting on the ground."""

    centre: tuple[float, float, float]
    radii: tuple[float, float, float]
    rgb: tuple[float, float, float]

    def corners(self) -> np.ndarray:
        c, r = np.array(self.centre), np.array(self.radii)
        signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
        return c + signs * r


@dataclass(frozen=True)
class Scene:
    seed: int
    terrain: Terrain
    roads: tuple[Road, ...]
    buildings: tuple[Building, ...]
    trees: tuple[Tree, ...]
    sun: np.ndarray = field(default_factory=sun_direction)  # [3] unit, towards the sun


def build_scene(seed: int, area_half_x: float, area_half_y: float) -> Scene:
    """A random scene for `seed`; buildings and trees stand inside ±area_half_{x,y} metres."""
    rng = np.random.default_rng([seed, 1])
    terrain = _terrain(seed, max(area_half_x, area_half_y) * 3.0 + 60.0)
    roads = _roads(rng, area_half_x, area_half_y)
    buildings = _buildings(rng, terrain, roads, area_half_x, area_half_y)
    trees = _trees(rng, terrain, roads, buildings, area_half_x, area_half_y)
    return Scene(seed, terrain, tuple(roads), tuple(buildings), tuple(trees))


def _terrain(seed: int, half_extent: float) -> Terrain:
    spacing = 1.0
    n = int(2 * half_extent / spacing) + 1
    x0 = -half_extent
    extent = (x0, x0, x0 + (n - 1) * spacing, x0 + (n - 1) * spacing)
    # Grid point k sits at x0 + k * spacing: sample the noise at those centres.
    half = spacing / 2
    box = (extent[0] - half, extent[1] - half, extent[2] + half, extent[3] + half)
    octaves = [(60.0, 2.0), (25.0, 0.9), (10.0, 0.3)]  # gentle: slopes stay below ~0.15
    heights = fractal_noise((seed, 10), box, (n, n), octaves)
    heights -= heights[n // 2, n // 2]  # the ground under the origin is at z = 0
    return Terrain(heights.astype(np.float32), x0, x0, spacing)


def _roads(rng: np.random.Generator, hx: float, hy: float) -> list[Road]:
    main = Road(True, rng.uniform(-0.5, 0.5) * hy, rng.uniform(2, 6), rng.uniform(120, 220),
                rng.uniform(0, 2 * math.pi), rng.uniform(5.0, 6.5))  # fmt: skip
    side = Road(False, rng.uniform(-0.6, 0.6) * hx, rng.uniform(2, 5), rng.uniform(100, 180),
                rng.uniform(0, 2 * math.pi), rng.uniform(3.5, 4.5))  # fmt: skip
    return [main, side]


def _clear_of_roads(roads: list[Road], x: float, y: float, radius: float) -> bool:
    return all(
        float(r.distance(np.array([x]), np.array([y]))[0]) > r.width / 2 + radius for r in roads
    )


_ROOF_COLOURS = [(0.55, 0.22, 0.16), (0.35, 0.36, 0.38), (0.62, 0.60, 0.56), (0.25, 0.27, 0.33),
                 (0.48, 0.30, 0.22)]  # fmt: skip
_WALL_COLOURS = [(0.82, 0.78, 0.70), (0.72, 0.55, 0.42), (0.88, 0.86, 0.82), (0.65, 0.66, 0.62)]


def _buildings(
    rng: np.random.Generator, terrain: Terrain, roads: list[Road], hx: float, hy: float
) -> list[Building]:
    out: list[Building] = []
    count = max(3, round(hx * hy / 300.0))
    for _ in range(400):
        if len(out) == count:
            break
        half_l, half_w = rng.uniform(4.0, 9.0), rng.uniform(3.0, 5.5)
        cx, cy = rng.uniform(-0.8, 0.8) * hx, rng.uniform(-0.8, 0.8) * hy
        radius = math.hypot(half_l, half_w)
        if not _clear_of_roads(roads, cx, cy, radius + 2.0):
            continue
        if any(math.hypot(cx - b.cx, cy - b.cy) < radius + math.hypot(b.half_length, b.half_width)
               + 4.0 for b in out):  # fmt: skip
            continue
        yaw = rng.uniform(-math.pi, math.pi)
        probe = Building(cx, cy, half_l, half_w, yaw, 0.0, 1.0, (0, 0, 0), (0, 0, 0), (0, 0))
        corners = probe.corners()[::2]
        ground, _, _ = terrain.height_and_gradient(corners[:, 0], corners[:, 1])
        storeys = int(rng.integers(1, 4))
        out.append(
            Building(
                cx, cy, half_l, half_w, yaw,
                z_base=float(ground.min()) - 1.0,
                z_top=float(ground.max()) + 3.0 * storeys + rng.uniform(0.5, 1.5),
                roof_rgb=_jitter_colour(rng, _ROOF_COLOURS[rng.integers(len(_ROOF_COLOURS))]),
                wall_rgb=_jitter_colour(rng, _WALL_COLOURS[rng.integers(len(_WALL_COLOURS))]),
                texture_offset=(float(rng.uniform(0, 40)), float(rng.uniform(0, 40))),
            )
        )  # fmt: skip
    return out


def _trees(
    rng: np.random.Generator,
    terrain: Terrain,
    roads: list[Road],
    buildings: list[Building],
    hx: float,
    hy: float,
) -> list[Tree]:
    out: list[Tree] = []
    count = int(hx * hy / 50.0)
    clusters = rng.uniform(-1.1, 1.1, (max(2, count // 8), 2)) * [hx, hy]
    for _ in range(count * 20):
        if len(out) == count:
            break
        if rng.random() < 0.6:  # most trees grow in groves, some stand alone
            cx, cy = clusters[rng.integers(len(clusters))] + rng.normal(0.0, 6.0, 2)
        else:
            cx, cy = rng.uniform(-1.2, 1.2) * hx, rng.uniform(-1.2, 1.2) * hy
        r = rng.uniform(1.5, 3.5)
        if not _clear_of_roads(roads, cx, cy, r + 0.5):
            continue
        if any(math.hypot(cx - b.cx, cy - b.cy) < math.hypot(b.half_length, b.half_width) + r + 1
               for b in buildings):  # fmt: skip
            continue
        if any(math.hypot(cx - t.centre[0], cy - t.centre[1]) < 0.8 * (r + t.radii[0])
               for t in out):  # fmt: skip
            continue
        rz = r * rng.uniform(1.0, 1.6)
        ground = terrain.height(cx, cy)
        green = (rng.uniform(0.12, 0.25), rng.uniform(0.28, 0.42), rng.uniform(0.08, 0.16))
        out.append(Tree((cx, cy, ground + rz * 0.85 + 0.8), (r, r, rz), green))
    return out


def _jitter_colour(rng: np.random.Generator, rgb: tuple[float, float, float]):
    return tuple(float(np.clip(c * rng.uniform(0.88, 1.12), 0.0, 1.0)) for c in rgb)
