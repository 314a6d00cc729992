"""The ground's appearance: fields, hedges, roads, yards, stones and fine detail, lit by the sun
(with the buildings' and trees' shadows) and baked into a mip-mapped radiance texture.

Everything is defined in world metres, so a coarse bake (for a map) shows the same ground as a
fine one (for the photos).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from .intersect import ray_box, ray_ellipsoid
from .noise import fractal_noise, value_noise
from .scene import Building, Scene

Extent = tuple[float, float, float, float]  # x0, y0, x1, y1 metres

_FIELD_COLOURS = np.array(
    [
        [0.38, 0.48, 0.22],  # young crop
        [0.25, 0.36, 0.17],  # dense crop
        [0.74, 0.63, 0.36],  # ripe wheat
        [0.46, 0.33, 0.22],  # ploughed soil
        [0.60, 0.56, 0.34],  # dry grass
        [0.41, 0.53, 0.26],  # meadow
        [0.55, 0.42, 0.28],  # stubble
    ],
    dtype=np.float32,
)


@dataclass(frozen=True)
class GroundTexture:
    """Sun-lit ground colour over an extent, as a mip pyramid packed into one array."""

    x0: float
    y0: float
    texel: float  # metres per texel at level 0
    shapes: tuple[tuple[int, int], ...]  # (rows, cols) per level
    offsets: np.ndarray  # [levels] int64 start of each level in `packed`
    packed: np.ndarray  # [sum rows*cols, 3] float32

    @property
    def level0(self) -> np.ndarray:
        rows, cols = self.shapes[0]
        return self.packed[: rows * cols].reshape(rows, cols, 3)

    def sample(self, x: np.ndarray, y: np.ndarray, footprint: np.ndarray) -> np.ndarray:
        """Trilinear lookup [N, 3] at world points for a sample footprint (metres) each."""
        levels = len(self.shapes)
        lod = np.clip(np.log2(np.maximum(footprint, 1e-6) / self.texel), 0.0, levels - 1.0)
        l0 = np.floor(lod).astype(np.int32)
        l1 = np.minimum(l0 + 1, levels - 1)
        w = (lod - l0).astype(np.float32)[:, None]
        colour = self._bilinear(x, y, l0)
        blend = np.flatnonzero(w[:, 0] > 1e-3)  # most nadir samples sit on level 0 alone
        if blend.size:
            near = colour[blend]
            far = self._bilinear(x[blend], y[blend], l1[blend])
            colour[blend] = near + (far - near) * w[blend]
        return colour

    def _bilinear(self, x: np.ndarray, y: np.ndarray, level: np.ndarray) -> np.ndarray:
        rows = np.array([s[0] for s in self.shapes], dtype=np.int64)[level]
        cols = np.array([s[1] for s in self.shapes], dtype=np.int64)[level]
        texel = (self.texel * 2.0**level).astype(np.float32)
        gx = (x - self.x0) / texel - 0.5  # texel centres at x0 + (j + 0.5) * texel
        gy = (y - self.y0) / texel - 0.5
        ix = np.clip(np.floor(gx), 0, cols - 2).astype(np.int64)
        iy = np.clip(np.floor(gy), 0, rows - 2).astype(np.int64)
        fx = np.clip(gx - ix, 0.0, 1.0).astype(np.float32)[:, None]
        fy = np.clip(gy - iy, 0.0, 1.0).astype(np.float32)[:, None]
        i00 = self.offsets[level] + iy * cols + ix
        p00, p10, p01, p11 = (
            np.take(self.packed, i, axis=0) for i in (i00, i00 + 1, i00 + cols, i00 + cols + 1)
        )
        south = p00 + (p10 - p00) * fx
        north = p01 + (p11 - p01) * fx
        return south + (north - south) * fy


def bake_ground(scene: Scene, extent: Extent, texel: float) -> GroundTexture:
    """The sun-lit ground of `scene` over `extent` at `texel` metres per texel."""
    x0, y0, x1, y1 = extent
    cols, rows = math.ceil((x1 - x0) / texel), math.ceil((y1 - y0) / texel)
    extent = (x0, y0, x0 + cols * texel, y0 + rows * texel)
    xs = (x0 + (np.arange(cols, dtype=np.float32) + 0.5) * texel)[None, :]
    ys = (y0 + (np.arange(rows, dtype=np.float32) + 0.5) * texel)[:, None]
    seed = scene.seed

    albedo = _fields(seed, extent, texel, (rows, cols), xs, ys)
    patches = fractal_noise((seed, 30), extent, (rows, cols), [(9.0, 0.12), (3.5, 0.08)])
    albedo *= (1.0 + patches)[..., None]
    tint = np.stack(
        [value_noise((seed, 31, c), extent, 14.0, (rows, cols)) for c in range(3)], axis=-1
    )
    albedo += 0.035 * tint
    _yards(scene, albedo, extent, texel, xs, ys)
    _roads(scene, albedo, extent, texel, xs, ys)
    albedo = _scatter(seed, albedo, extent, texel)
    detail = fractal_noise(
        (seed, 32),
        extent,
        (rows, cols),
        [(0.12, 0.09), (0.3, 0.08), (0.8, 0.06), (2.0, 0.05)],
        min_cell_m=2.0 * texel,
    )
    albedo *= (1.0 + detail)[..., None]
    radiance = albedo * _sunlight(scene, extent, texel, (rows, cols))[..., None]
    np.clip(radiance, 0.0, 1.0, out=radiance)
    return _pyramid(radiance.astype(np.float32), extent, texel)


def _fields(seed, extent: Extent, texel, shape, xs, ys) -> np.ndarray:
    """Irregular parcels (warped Voronoi cells), each with its own crop colour and row pattern,
    bounded by hedges and tracks."""
    x0, y0, x1, y1 = extent
    rows, cols = shape
    # Cell ids at ~50 cm, upsampled: the hedges cover the blocky borders.
    step = max(1, round(0.5 / texel))
    crows, ccols = -(-rows // step), -(-cols // step)
    cext = (x0, y0, x0 + ccols * step * texel, y0 + crows * step * texel)
    cx = (x0 + (np.arange(ccols) + 0.5) * step * texel)[None, :].astype(np.float32)
    cy = (y0 + (np.arange(crows) + 0.5) * step * texel)[:, None].astype(np.float32)
    wx = cx + 5.0 * value_noise((seed, 20), cext, 22.0, (crows, ccols))
    wy = cy + 5.0 * value_noise((seed, 21), cext, 22.0, (crows, ccols))

    # Parcel seeds: a jittered 32 m lattice anchored to the world, so any extent agrees.
    rng = np.random.default_rng([seed, 22])
    lattice = 32.0
    gi = np.arange(-12, 12)
    seeds_x = (gi[None, :] + 0.5 + rng.uniform(-0.35, 0.35, (24, 24))) * lattice
    seeds_y = (gi[:, None] + 0.5 + rng.uniform(-0.35, 0.35, (24, 24))) * lattice
    seeds_x, seeds_y = seeds_x.ravel(), seeds_y.ravel()
    n = len(seeds_x)
    d1 = np.full((crows, ccols), np.inf, dtype=np.float32)  # squared distances
    d2 = np.full((crows, ccols), np.inf, dtype=np.float32)
    ids = np.zeros((crows, ccols), dtype=np.int32)
    for k in range(n):
        if not (x0 - 60 < seeds_x[k] < x1 + 60 and y0 - 60 < seeds_y[k] < y1 + 60):
            continue
        d = (wx - np.float32(seeds_x[k])) ** 2 + (wy - np.float32(seeds_y[k])) ** 2
        closer = d < d1
        np.copyto(d2, np.minimum(d2, d), where=~closer)
        np.copyto(d2, d1, where=closer)
        np.copyto(d1, d, where=closer)
        np.copyto(ids, k, where=closer)
    gap = np.sqrt(d2) - np.sqrt(d1)
    ids = np.repeat(np.repeat(ids, step, 0), step, 1)[:rows, :cols]
    gap = np.asarray(
        Image.fromarray(gap, mode="F").resize((ccols * step, crows * step), Image.BILINEAR)
    )[:rows, :cols]

    colour = _FIELD_COLOURS[rng.integers(len(_FIELD_COLOURS), size=n)]
    colour *= rng.uniform(0.85, 1.15, (n, 3)).astype(np.float32)
    angle = rng.uniform(0, math.pi, n).astype(np.float32)
    period = rng.uniform(0.7, 2.8, n).astype(np.float32)
    contrast = (rng.uniform(0.0, 0.35, n) * (rng.random(n) < 0.75)).astype(np.float32)
    # Rows finer than ~4 texels would alias: fade them out on a coarse bake.
    contrast *= np.clip(period / (4 * texel) - 1.0, 0.0, 1.0)
    wave_x, wave_y = np.cos(angle) / period, np.sin(angle) / period
    phase = xs * np.take(wave_x, ids) + ys * np.take(wave_y, ids)
    rows_pattern = 1.0 - np.take(contrast, ids) * (0.5 + 0.5 * np.sin(2 * math.pi * phase))
    albedo = np.take(colour, ids, axis=0) * rows_pattern[..., None]

    hedge = np.clip(1.6 - gap, 0.0, 1.0)[..., None]  # borders ~1.5 m wide, soft-edged
    hedge_colour = np.array([0.24, 0.30, 0.14], dtype=np.float32)
    return albedo * (1 - hedge) + hedge_colour * hedge


def _coverage(distance: np.ndarray, edge: float, texel: float) -> np.ndarray:
    """Anti-aliased inside-ness of `distance < edge` over one texel."""
    return np.clip((edge - distance) / texel + 0.5, 0.0, 1.0)[..., None]


def _paint(albedo, mask, colour) -> None:
    albedo *= 1 - mask
    albedo += mask * np.asarray(colour, dtype=np.float32)


def _roads(scene: Scene, albedo, extent: Extent, texel, xs, ys) -> None:
    rows, cols = albedo.shape[:2]
    for index, road in enumerate(scene.roads):
        half = road.width / 2
        # Work on the band of texels the road can touch (it winds by at most its amplitude).
        reach = road.amplitude + half + 2.0
        lo, hi = road.offset - reach, road.offset + reach
        if road.east_west:
            i0, i1 = _index_range(lo, hi, extent[1], texel, rows)
            sl, bx, by = (slice(i0, i1), slice(None)), xs, ys[i0:i1]
        else:
            j0, j1 = _index_range(lo, hi, extent[0], texel, cols)
            sl, bx, by = (slice(None), slice(j0, j1)), xs[:, j0:j1], ys
        band = albedo[sl]
        if band.size == 0:
            continue
        band_extent = (
            extent[0] + (sl[1].start or 0) * texel,
            extent[1] + (sl[0].start or 0) * texel,
            extent[0] + (sl[1].start or 0) * texel + band.shape[1] * texel,
            extent[1] + (sl[0].start or 0) * texel + band.shape[0] * texel,
        )
        grain = fractal_noise(
            (scene.seed, 40), band_extent, band.shape[:2], [(0.25, 0.06), (1.5, 0.05)], 2 * texel
        )
        d = road.distance(bx, by).astype(np.float32)
        _paint(band, _coverage(d, half + 0.9, texel), (0.56, 0.51, 0.42))  # gravel shoulder
        mask = _coverage(d, half, texel)
        band *= 1 - mask
        band += mask * np.array([0.30, 0.30, 0.31], dtype=np.float32) * (1.0 + grain)[..., None]
        if index == 0:  # the main road carries markings
            white = (0.86, 0.86, 0.84)
            _paint(band, _coverage(np.abs(d - (half - 0.35)), 0.08, texel), white)
            dash = (road.along(bx, by) % 9.0 < 3.0).astype(np.float32)[..., None]
            _paint(band, _coverage(d, 0.07, texel) * dash, white)


def _yards(scene: Scene, albedo, extent: Extent, texel, xs, ys) -> None:
    """Gravel or paving around each building."""
    x0, y0 = extent[0], extent[1]
    for b in scene.buildings:
        reach = math.hypot(b.half_length, b.half_width) + 4.0
        j0, j1 = _index_range(b.cx - reach, b.cx + reach, x0, texel, albedo.shape[1])
        i0, i1 = _index_range(b.cy - reach, b.cy + reach, y0, texel, albedo.shape[0])
        if j0 >= j1 or i0 >= i1:
            continue
        c, s = math.cos(b.yaw), math.sin(b.yaw)
        rx, ry = xs[:, j0:j1] - b.cx, ys[i0:i1] - b.cy
        lx, ly = np.abs(c * rx + s * ry), np.abs(-s * rx + c * ry)
        outside = np.maximum(lx - b.half_length, ly - b.half_width)
        mask = _coverage(outside, 2.5, texel)
        tone = 0.9 + 0.1 * (int(b.texture_offset[0]) % 3)
        _paint(albedo[i0:i1, j0:j1], mask, (0.58 * tone, 0.56 * tone, 0.52 * tone))


def _index_range(lo: float, hi: float, origin: float, texel: float, size: int) -> tuple[int, int]:
    return (
        max(0, math.floor((lo - origin) / texel)),
        min(size, math.ceil((hi - origin) / texel)),
    )


def _scatter(seed, albedo: np.ndarray, extent: Extent, texel: float) -> np.ndarray:
    """Stones, shrubs, dirt spots and debris: thousands of small distinct shapes, the blobs and
    corners feature detectors lock on to."""
    x0, y0, x1, y1 = extent
    rng = np.random.default_rng([seed, 50])
    # Drawn over a world-anchored window so a different extent shows the same shapes.
    wx0, wy0, size = -200.0, -200.0, 400.0
    count = int(size * size / 2.5)
    px = rng.uniform(wx0, wx0 + size, count)
    py = rng.uniform(wy0, wy0 + size, count)
    radius = np.exp(rng.uniform(math.log(0.12), math.log(0.7), count))
    kind = rng.choice(4, count, p=[0.3, 0.3, 0.3, 0.1])
    sides = rng.integers(3, 7, count)
    angle = rng.uniform(0, 2 * math.pi, count)
    shade = rng.uniform(0.0, 1.0, count)
    keep = (px > x0 - 1) & (px < x1 + 1) & (py > y0 - 1) & (py < y1 + 1)
    debris = rng.integers(60, 200, (count, 3))

    # Image rows are albedo rows (south first); the mirror image of random shapes is no matter.
    base = (np.clip(albedo, 0, 1) * 255 + 0.5).astype(np.uint8)
    rows, cols = base.shape[:2]
    image = Image.fromarray(base)
    draw = ImageDraw.Draw(image)
    chosen = np.flatnonzero(keep & (radius / texel >= 0.7))
    u_all, v_all = (px - x0) / texel, (py - y0) / texel
    # Tones of the ground they lie on, so they read as stones and tufts, not confetti.
    under = base[
        np.clip(v_all[chosen].astype(int), 0, rows - 1),
        np.clip(u_all[chosen].astype(int), 0, cols - 1),
    ].astype(float)
    s = shade[chosen, None]
    tones = np.select(
        [kind[chosen, None] == 0, kind[chosen, None] == 1, kind[chosen, None] == 2],
        [
            0.45 * under + (0.55 + 0.35 * s) * [200.0, 196, 188],  # pale stone
            under * (0.45 + 0.2 * s) * [0.9, 1.05, 0.8],  # dark tuft or shrub
            0.5 * under + (0.6 + 0.4 * s) * [120.0, 92, 62],  # bare earth
        ],
        0.5 * under + 0.5 * debris[chosen],  # litter of any colour
    )
    fills = [tuple(c) for c in np.clip(tones, 0, 255).astype(int).tolist()]
    for k, colour in zip(chosen.tolist(), fills):
        r, u, v = radius[k] / texel, u_all[k], v_all[k]
        if sides[k] >= 6:
            draw.ellipse((u - r, v - r * 0.7, u + r, v + r * 0.7), fill=colour)
        else:
            a = angle[k] + np.arange(sides[k]) * 2 * math.pi / sides[k]
            wobble = 0.6 + 0.4 * np.cos(3 * a + k)
            pts = [(u + r * w * math.cos(t), v + r * w * math.sin(t)) for t, w in zip(a, wobble)]
            draw.polygon(pts, fill=colour)
    return np.asarray(image, dtype=np.float32) / 255.0


def _sunlight(scene: Scene, extent: Extent, texel: float, shape) -> np.ndarray:
    """Ambient plus Lambert sun light [rows, cols], zero direct light in the solids' shadows."""
    rows, cols = shape
    x0, y0 = extent[0], extent[1]
    # Terrain normals change slowly: light a ~0.5 m grid, then resize.
    step = max(1, round(0.5 / texel))
    crows, ccols = -(-rows // step), -(-cols // step)
    gx = x0 + (np.arange(ccols) + 0.5) * step * texel
    gy = y0 + (np.arange(crows) + 0.5) * step * texel
    mx, my = np.meshgrid(gx, gy)
    _, hx, hy = scene.terrain.height_and_gradient(mx.ravel(), my.ravel())
    sun = scene.sun
    lambert = (sun[2] - hx * sun[0] - hy * sun[1]) / np.sqrt(1.0 + hx * hx + hy * hy)
    lambert = np.maximum(lambert, 0.0).reshape(crows, ccols).astype(np.float32)
    box = (0.0, 0.0, cols / step, rows / step)  # fine texel j spans coarse [j, j+1] / step
    direct = np.asarray(
        Image.fromarray(lambert, mode="F").resize((cols, rows), Image.BILINEAR, box=box)
    ).copy()

    for solid in (*scene.buildings, *scene.trees):
        corners = solid.corners()
        ground = corners[:, 2].min() - 2.0
        # The shadow falls between the solid and its top projected down-sun onto the ground.
        reach = (corners[:, 2] - ground) / sun[2]
        sx = np.concatenate([corners[:, 0], corners[:, 0] - sun[0] * reach])
        sy = np.concatenate([corners[:, 1], corners[:, 1] - sun[1] * reach])
        j0, j1 = _index_range(sx.min(), sx.max(), x0, texel, cols)
        i0, i1 = _index_range(sy.min(), sy.max(), y0, texel, rows)
        if j0 >= j1 or i0 >= i1:
            continue
        px, py = np.meshgrid(
            x0 + (np.arange(j0, j1) + 0.5) * texel, y0 + (np.arange(i0, i1) + 0.5) * texel
        )
        pz, _, _ = scene.terrain.height_and_gradient(px.ravel(), py.ravel())
        args = (px.ravel(), py.ravel(), pz + 0.02, sun[0], sun[1], sun[2])
        if isinstance(solid, Building):
            t, _ = ray_box(solid, *args)
        else:
            t = ray_ellipsoid(solid, *args)
        shadow = np.isfinite(t).reshape(i1 - i0, j1 - j0)
        direct[i0:i1, j0:j1][shadow] = 0.0
    return 0.42 + 0.78 * direct


def _pyramid(radiance: np.ndarray, extent: Extent, texel: float) -> GroundTexture:
    levels = [radiance]
    while min(levels[-1].shape[:2]) >= 32:
        prev = levels[-1]
        r, c = prev.shape[0] // 2 * 2, prev.shape[1] // 2 * 2
        p = prev[:r, :c]
        levels.append(0.25 * (p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2]))
    sizes = [lv.shape[0] * lv.shape[1] for lv in levels]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    packed = np.concatenate([lv.reshape(-1, 3) for lv in levels]).astype(np.float32)
    return GroundTexture(
        x0=extent[0],
        y0=extent[1],
        texel=texel,
        shapes=tuple(lv.shape[:2] for lv in levels),
        offsets=offsets,
        packed=packed,
    )
