"""Survey presets: image size, camera and flight plan of each named survey."""

from __future__ import annotations

from dataclasses import dataclass, replace

from spaceport_shared.errors import SpaceportError

from .flaws import NO_FLAWS, Flaws


@dataclass(frozen=True)
class Preset:
    name: str
    width: int  # pixels
    height: int  # pixels
    focal_px: float  # fx = fy, pixels
    sensor_width_mm: float  # for the EXIF focal length in millimetres
    altitude_agl_m: float  # flight height above the ground under the drone
    lines: int  # lawnmower flight lines (south-north, stepping east)
    images_per_line: int
    oblique_count: int  # shots from around the block, tilted towards its centre
    oblique_tilt_deg: float  # from nadir
    forward_overlap: float = 0.75
    side_overlap: float = 0.60
    supersample: int = 2  # samples per pixel along each axis, box-filtered (anti-aliasing)
    texel_m: float = 0.05  # ground texture resolution
    jpeg_quality: int = 94
    flaws: Flaws = NO_FLAWS  # what `generate` adds when it is given no flaws of its own

    @property
    def image_count(self) -> int:
        return self.lines * self.images_per_line + self.oblique_count


_DEMO = Preset(
    name="demo",
    width=640,
    height=480,
    focal_px=512.0,
    sensor_width_mm=6.4,
    altitude_agl_m=40.0,
    lines=4,
    images_per_line=6,
    oblique_count=4,
    oblique_tilt_deg=35.0,
    texel_m=0.05,
)

PRESETS: dict[str, Preset] = {
    "demo": _DEMO,
    "test": Preset(
        name="test",
        width=320,
        height=240,
        focal_px=256.0,
        sensor_width_mm=6.4,
        altitude_agl_m=40.0,
        lines=3,
        images_per_line=3,
        oblique_count=3,
        oblique_tilt_deg=35.0,
        texel_m=0.1,
    ),
    # A survey pilot's ordinary flight: 16 lines of 24 photos over ~440 x 320 m, plus 16
    # obliques, with a consumer receiver's GPS (metre noise correlated along the flight, a
    # slow altitude drift, two thrown fixes). The demo's camera keeps rendering to ~0.6 s of
    # CPU a photo; flying at 50 m and baking at 7 cm keep the ground texture near 35 M texels.
    "large": replace(
        _DEMO,
        name="large",
        altitude_agl_m=50.0,
        lines=16,
        images_per_line=24,
        oblique_count=16,
        texel_m=0.07,
        flaws=Flaws(
            gps_noise_m=1.5,
            gps_vertical_noise_m=3.0,
            altitude_drift_m=2.0,
            gps_jumps=2,
            gps_jump_m=40.0,
        ),
    ),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise SpaceportError(
            f"Unknown synthetic survey preset {name!r}; use one of {', '.join(sorted(PRESETS))}."
        ) from None
