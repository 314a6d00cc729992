"""`write_flight_video`: the survey's lawnmower flown as a drone video with its DJI `.SRT`.

The drone flies the nadir shots' path at a constant speed with the camera looking down; a few
frames carry a strong motion blur (as a gust or a fast yaw makes), so a reader can be checked to
reject them. The `.SRT` is DJI's per-frame telemetry subtitle (Mavic 3 / Air 2S layout): frame
count, time, `[latitude: ..] [longitude: ..] [rel_alt: .. abs_alt: ..]`. The truth (time, camera
centre in ENU metres, blurred or not) comes back for the test.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from .flight import nadir_rotation
from .geodesy import GeoOrigin, enu_to_geodetic
from .presets import get_preset
from .render import make_detail_texture, render
from .survey import DEFAULT_ORIGIN, bake_world_ground, build_world

_START = datetime(2024, 6, 15, 10, 0, 0)
_BLUR_PX = 12  # length of the motion-blur streak, pixels


@dataclass(frozen=True)
class VideoFrameTruth:
    time_s: float
    centre: np.ndarray  # [3] ENU metres
    blurred: bool


@dataclass(frozen=True)
class FlightVideo:
    video: Path
    srt: Path
    origin: GeoOrigin
    frames: tuple[VideoFrameTruth, ...]


def _path_points(preset: str, seed: int) -> tuple[np.ndarray, object]:
    world = build_world(get_preset(preset), seed)
    nadir = np.array([s.centre for s in world.shots if s.kind == "nadir"])  # [N, 3]
    return nadir, world


def _along(points: np.ndarray, distance: float) -> tuple[np.ndarray, np.ndarray]:
    """Position and unit travel direction `distance` metres along the polyline `points`."""
    seg = np.diff(points, axis=0)
    lengths = np.linalg.norm(seg, axis=1)
    k = int(np.searchsorted(np.cumsum(lengths), distance, side="right"))
    k = min(k, len(seg) - 1)
    start = float(np.sum(lengths[:k]))
    position = points[k] + seg[k] / lengths[k] * min(distance - start, lengths[k])
    heading = np.array([seg[k][0], seg[k][1], 0.0])  # the camera looks straight down
    return position, heading / np.linalg.norm(heading)


def _motion_blur(pixels: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """A streak of `_BLUR_PX` pixels along the image axis closest to the travel direction."""
    axis = 0 if abs(direction[1]) >= abs(direction[0]) else 1  # nadir: image y ~ travel
    acc = np.zeros(pixels.shape, np.float64)
    for shift in range(_BLUR_PX):
        acc += np.roll(pixels, shift - _BLUR_PX // 2, axis=axis)
    return (acc / _BLUR_PX).astype(np.uint8)


def _srt_block(
    index: int, t0: float, t1: float, position: tuple[float, float, float], rel: float, f35: float
) -> str:
    lat, lon, alt = position

    def stamp(t: float) -> str:
        ms = round(t * 1000)
        return (
            f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"
        )

    when = (_START + timedelta(seconds=t0)).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return (
        f"{index}\n{stamp(t0)} --> {stamp(t1)}\n"
        f'<font size="28">FrameCnt: {index}, DiffTime: {round((t1 - t0) * 1000)}ms\n{when}\n'
        f"[iso: 100] [shutter: 1/1000.0] [fnum: 2.8] [ev: 0] [color_md: default] "
        f"[focal_len: {f35:.2f}] [latitude: {lat:.6f}] [longitude: {lon:.6f}] "
        f"[rel_alt: {rel:.3f} abs_alt: {alt:.3f}] [ct: 5500] </font>\n\n"
    )


def write_flight_video(
    out_dir: Path | str,
    preset: str = "test",
    seed: int = 0,
    fps: int = 1,
    speed_mps: float = 5.0,
    blur_every: int = 4,
    origin: GeoOrigin = DEFAULT_ORIGIN,
    name: str = "DJI_0001",
) -> FlightVideo:
    """Write `out_dir/<name>.MP4` (H.264) and `out_dir/<name>.SRT`; every `blur_every`-th frame
    (the 2nd, 6th, ...) is motion-blurred. Rendering costs ~0.15 s a frame at the test size."""
    import av  # the `video` extra: the rest of the package works without it

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    points, world = _path_points(preset, seed)
    spec = world.preset
    ground = bake_world_ground(world)
    detail = make_detail_texture(seed, spec.texel_m)
    length = float(np.sum(np.linalg.norm(np.diff(points, axis=0), axis=1)))
    count = int(length / speed_mps * fps) + 1
    video, srt = out / f"{name}.MP4", out / f"{name}.SRT"
    # DJI writes the 35 mm-equivalent focal length (diagonal of 36x24 mm: 43.27 mm)
    f35 = spec.focal_px * float(np.hypot(36.0, 24.0)) / float(np.hypot(spec.width, spec.height))
    truths, blocks = [], []
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for i in range(count):
            t = i / fps
            centre, direction = _along(points, t * speed_mps)
            pixels = render(
                world.scene, ground, detail, world.camera, nadir_rotation(direction), centre, 1
            )
            blurred = blur_every > 0 and i % blur_every == 1
            if blurred:
                pixels = _motion_blur(pixels, direction)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            container.mux(stream.encode(frame))
            position = enu_to_geodetic(centre, origin)
            rel = position[2] - origin.alt  # DJI: above the take-off point
            blocks.append(_srt_block(i + 1, t, t + 1 / fps, position, rel, f35))
            truths.append(VideoFrameTruth(t, centre, blurred))
        container.mux(stream.encode(None))
    srt.write_text("".join(blocks))
    return FlightVideo(video, srt, origin, tuple(truths))
