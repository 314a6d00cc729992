"""A top-down map of a survey: an orthophoto of the scene with the flight path, the photo
positions and the nadir footprints. Drawn with Pillow (shared does not depend on matplotlib)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .ground_truth import read_ground_truth
from .presets import get_preset
from .render import make_detail_texture, nearest_hit, shade
from .survey import World, bake_world_ground, build_world, ground_extent

_PATH = (255, 196, 0)
_NADIR = (255, 255, 255)
_OBLIQUE = (230, 40, 40)


def orthophoto(world: World, extent, metres_per_pixel: float) -> np.ndarray:
    """Straight-down orthographic render [rows, cols, 3] uint8 of `extent` (north up)."""
    x0, y0, x1, y1 = extent
    cols, rows = round((x1 - x0) / metres_per_pixel), round((y1 - y0) / metres_per_pixel)
    x = (x0 + (np.arange(cols) + 0.5) * metres_per_pixel)[None, :].repeat(rows, 0)
    y = (y1 - (np.arange(rows) + 0.5) * metres_per_pixel)[:, None].repeat(cols, 1)
    z = np.full(x.shape, 1000.0)
    down = np.zeros(x.shape)
    t, solid, face = nearest_hit(world.scene, x, y, z, down, down, down - 1.0)
    ground = bake_world_ground(world, texel=metres_per_pixel / 2)
    detail = make_detail_texture(world.scene.seed, metres_per_pixel / 2)
    solids = (*world.scene.buildings, *world.scene.trees)
    footprint = np.full(x.shape, metres_per_pixel)
    colour = shade(world.scene, ground, detail, solids, solid, face, x, y, z - t, footprint)
    return (np.clip(colour, 0, 1) * 255 + 0.5).astype(np.uint8)


def draw_flight_plot(survey_dir: Path | str, out_png: Path | str, width_px: int = 640) -> Path:
    """Draw the map of the survey in `survey_dir` to `out_png`; returns the path."""
    truth = read_ground_truth(survey_dir)
    world = build_world(get_preset(truth.preset), truth.seed)
    extent = ground_extent(world, margin=2.0)
    x0, _y0, x1, y1 = extent
    mpp = (x1 - x0) / width_px
    base = Image.fromarray(orthophoto(world, extent, mpp))
    # Softened and paled so the overlay reads first (and the PNG stays small).
    base = base.filter(ImageFilter.GaussianBlur(0.8))
    base = Image.blend(base, Image.new("RGB", base.size, (255, 255, 255)), 0.25)
    overlay = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)

    def px(x: float, y: float) -> tuple[float, float]:
        return (x - x0) / mpp, (y1 - y) / mpp

    cam = truth.camera
    corners = np.array([[0, 0], [cam.width, 0], [cam.width, cam.height], [0, cam.height]])
    rays = np.column_stack(
        [(corners[:, 0] - cam.cx) / cam.fx, (corners[:, 1] - cam.cy) / cam.fy, np.ones(4)]
    )
    nadir = [im for im in truth.images.values() if im.kind == "nadir"]
    oblique = [im for im in truth.images.values() if im.kind == "oblique"]
    for image in nadir:
        centre = image.camera_center
        ground_z = world.scene.terrain.height(centre[0], centre[1])
        d = rays @ image.world_from_cam_rotation.T
        t = (centre[2] - ground_z) / np.maximum(-d[:, 2], 1e-3)
        quad = [px(*(centre[:2] + dd[:2] * tt)) for dd, tt in zip(d, t)]
        draw.polygon(quad, outline=(*_NADIR, 150), width=1)

    path = [px(*im.camera_center[:2]) for im in nadir]
    draw.line(path, fill=(*_PATH, 255), width=3, joint="curve")
    for a, b in itertools.pairwise(path):
        _arrow(draw, a, b)
    for k, (u, v) in enumerate(path):
        draw.ellipse((u - 4, v - 4, u + 4, v + 4), fill=(*_NADIR, 255), outline=(0, 0, 0, 255))
        if k == 0:
            draw.text((u + 6, v - 6), "start", fill=(0, 0, 0, 255))
    target = px(0.0, 0.0)
    for image in oblique:
        u, v = px(*image.camera_center[:2])
        draw.line([(u, v), target], fill=(*_OBLIQUE, 200), width=2)
        draw.regular_polygon((u, v, 7), 3, fill=(*_OBLIQUE, 255), outline=(0, 0, 0, 255))

    _legend(draw, len(nadir), len(oblique), mpp, base.size)
    out = Image.alpha_composite(base.convert("RGBA"), overlay).convert("RGB")
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    # An adaptive palette keeps the PNG small enough for a README.
    palette = out.quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    palette.save(out_png, optimize=True)
    return out_png


def _arrow(draw: ImageDraw.ImageDraw, a, b) -> None:
    (ua, va), (ub, vb) = a, b
    length = math.hypot(ub - ua, vb - va)
    if length < 20:
        return
    mu, mv = (ua + ub) / 2, (va + vb) / 2
    ex, ey = (ub - ua) / length, (vb - va) / length
    tip = (mu + 7 * ex, mv + 7 * ey)
    left = (mu - 5 * ex - 5 * ey, mv - 5 * ey + 5 * ex)
    right = (mu - 5 * ex + 5 * ey, mv - 5 * ey - 5 * ex)
    draw.polygon([tip, left, right], fill=(*_PATH, 255), outline=(0, 0, 0, 255))


def _legend(draw: ImageDraw.ImageDraw, nadir: int, oblique: int, mpp: float, size) -> None:
    x, y = 10, 10
    draw.rectangle((x, y, x + 200, y + 84), fill=(255, 255, 255, 215), outline=(0, 0, 0, 255))
    draw.line((x + 8, y + 14, x + 32, y + 14), fill=(*_PATH, 255), width=3)
    draw.text((x + 40, y + 8), "flight path (lawnmower)", fill=(0, 0, 0, 255))
    draw.ellipse((x + 16, y + 28, x + 24, y + 36), fill=(*_NADIR, 255), outline=(0, 0, 0, 255))
    draw.text((x + 40, y + 26), f"nadir photo + footprint ({nadir})", fill=(0, 0, 0, 255))
    draw.regular_polygon((x + 20, y + 50, 6), 3, fill=(*_OBLIQUE, 255), outline=(0, 0, 0, 255))
    draw.text((x + 40, y + 44), f"oblique photo ({oblique})", fill=(0, 0, 0, 255))
    bar = 20.0 / mpp
    draw.line((x + 8, y + 70, x + 8 + bar, y + 70), fill=(0, 0, 0, 255), width=3)
    draw.text((x + 16 + bar, y + 63), "20 m    north up", fill=(0, 0, 0, 255))
