"""`generate`: render a whole synthetic drone survey (photos with EXIF + ground truth)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image

from spaceport_shared.errors import SpaceportError

from .exif import exif_bytes
from .flaws import Flaws, distort, gps_errors
from .flight import Shot, footprint_m, plan_flight
from .geodesy import GeoOrigin, enu_to_geodetic
from .ground import GroundTexture, bake_ground
from .ground_truth import FILE_NAME, GroundTruth, ImageTruth, write_ground_truth
from .presets import Preset, get_preset
from .render import PinholeCamera, make_detail_texture, render
from .scene import Scene, build_scene

# A field on the edge of Lund, Sweden; any origin works (`origin=`, `--origin`).
DEFAULT_ORIGIN = GeoOrigin(lat=55.7125, lon=13.2210, alt=65.0)
_FIRST_SHOT = datetime(2024, 6, 15, 9, 30, 0)
_SECONDS_BETWEEN_SHOTS = 3


@dataclass(frozen=True)
class Survey:
    """What `generate` wrote."""

    root: Path
    images_dir: Path  # root / "images"
    ground_truth_path: Path  # root / "ground_truth.json"
    image_names: tuple[str, ...]
    preset: str
    seed: int
    origin: GeoOrigin
    ground_truth: GroundTruth


@dataclass(frozen=True)
class World:
    """The scene and the flight over it: everything a seed and a preset determine."""

    preset: Preset
    camera: PinholeCamera
    scene: Scene
    shots: tuple[Shot, ...]


def build_world(preset: Preset, seed: int) -> World:
    across, along = footprint_m(preset)
    line_spacing = (1 - preset.side_overlap) * across
    shot_spacing = (1 - preset.forward_overlap) * along
    half_x = (preset.lines - 1) / 2 * line_spacing + across / 2
    half_y = (preset.images_per_line - 1) / 2 * shot_spacing + along / 2
    scene = build_scene(seed, half_x, half_y)
    shots = plan_flight(preset, scene.terrain.height, np.random.default_rng([seed, 2]))
    camera = PinholeCamera(
        preset.width, preset.height, preset.focal_px, preset.focal_px,
        preset.width / 2, preset.height / 2,
    )  # fmt: skip
    return World(preset, camera, scene, tuple(shots))


def ground_extent(world: World, margin: float = 8.0) -> tuple[float, float, float, float]:
    """Bounding box (x0, y0, x1, y1) of all photos' ground footprints, plus a margin."""
    cam = world.camera
    corners = np.array(
        [[-cam.cx / cam.fx, -cam.cy / cam.fy, 1.0], [cam.cx / cam.fx, -cam.cy / cam.fy, 1.0],
         [-cam.cx / cam.fx, cam.cy / cam.fy, 1.0], [cam.cx / cam.fx, cam.cy / cam.fy, 1.0]]
    )  # fmt: skip
    floor = float(np.percentile(world.scene.terrain.heights, 1))
    points = []
    for shot in world.shots:
        rays = corners @ shot.world_from_cam.T
        t = (shot.centre[2] - floor) / np.maximum(-rays[:, 2], 1e-3)
        points.append(shot.centre[:2] + rays[:, :2] * t[:, None])
    points = np.concatenate(points)
    lo, hi = points.min(axis=0) - margin, points.max(axis=0) + margin
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def bake_world_ground(world: World, texel: float | None = None) -> GroundTexture:
    return bake_ground(world.scene, ground_extent(world), texel or world.preset.texel_m)


def generate(
    out_dir: Path | str,
    preset: str = "demo",
    seed: int = 0,
    origin: GeoOrigin = DEFAULT_ORIGIN,
    flaws: Flaws | None = None,
) -> Survey:
    """Render the `preset` survey of the scene `seed` into `out_dir` (created, or empty).

    Writes `out_dir/images/IMG_0001.jpg ...` (JPEG with GPS, focal length, make/model and
    time in EXIF) and `out_dir/ground_truth.json`. The same preset, seed and flaws give the
    same photos; `flaws` adds a real flight's GPS errors, lens distortion and EXIF gaps
    (None: the preset's own, which only `large` has).
    """
    spec = get_preset(preset)
    flaws = spec.flaws if flaws is None else flaws
    overlaps = {"forward_overlap": flaws.forward_overlap, "side_overlap": flaws.side_overlap}
    spec = replace(spec, **{k: v for k, v in overlaps.items() if v is not None})
    root = Path(out_dir)
    if root.exists() and any(root.iterdir()):
        raise SpaceportError(f"Output folder {root} is not empty; give a new or empty folder.")
    images_dir = root / "images"
    images_dir.mkdir(parents=True, exist_ok=True)

    world = build_world(spec, seed)
    ground = bake_world_ground(world)
    detail = make_detail_texture(seed, spec.texel_m)
    gps: dict[str, tuple[float, float, float]] = {}
    truths: dict[str, ImageTruth] = {}
    errors = gps_errors(flaws, len(world.shots), np.random.default_rng([seed, 3]))
    cam = world.camera
    for index, shot in enumerate(world.shots):
        pixels = render(
            world.scene, ground, detail, cam, shot.world_from_cam, shot.centre, spec.supersample
        )
        pixels = distort(pixels, cam.fx, cam.fy, cam.cx, cam.cy, flaws.radial_k1)
        lat, lon, alt = enu_to_geodetic(shot.centre + errors[index], origin)
        gps[shot.name] = (lat, lon, alt)
        exif = exif_bytes(
            lat=lat, lon=lon, alt=alt, width=spec.width, height=spec.height,
            focal_px=spec.focal_px, sensor_width_mm=spec.sensor_width_mm,
            taken_at=_FIRST_SHOT + timedelta(seconds=_SECONDS_BETWEEN_SHOTS * index),
            focal_35mm_tag=flaws.focal_35mm_tag,
            gps_accuracy_m=flaws.gps_noise_m if flaws.gps_accuracy_tag else None,
        )  # fmt: skip
        Image.fromarray(pixels).save(
            images_dir / shot.name, "JPEG", quality=spec.jpeg_quality, exif=exif
        )
        truths[shot.name] = ImageTruth(
            shot.name, shot.kind, shot.cam_from_world_rotation, shot.cam_from_world_translation
        )
    truth = GroundTruth(spec.name, seed, origin, world.camera, truths)
    gt_path = root / FILE_NAME
    write_ground_truth(gt_path, truth, gps)
    return Survey(
        root=root,
        images_dir=images_dir,
        ground_truth_path=gt_path,
        image_names=tuple(truths),
        preset=spec.name,
        seed=seed,
        origin=origin,
        ground_truth=truth,
    )
