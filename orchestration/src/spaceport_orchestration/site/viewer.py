"""The splat viewer page (`site/viewer.html`): the vendored SuperSplat viewer, framed and upright.

The viewer is `@playcanvas/supersplat-viewer`, pinned in the root package.json; `make setup`
copies its standalone bundle into `vendor/supersplat-viewer/` here (not committed). It is
inlined into one HTML file because browsers refuse ES-module imports and `fetch` from file://
pages: opened from disk, the page loads the model from `scene-sog.js` (the .sog as base64 in a
classic script, which file:// allows); served over HTTP it fetches the .sog beside it.

Frames: the viewer is y-up and turns every splat entity by (0, 0, 180) degrees (COLMAP's
y-down camera frame). A georeferenced model is ENU (x east, y north, z up), so it is turned by
(-90, 0, 0) instead: east -> +x, up -> +y, north -> -z. The settings' start camera is written in
that world frame.
"""

from __future__ import annotations

import base64
import json
import math
import statistics
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from spaceport_shared.errors import SpaceportError

VIEWER_PACKAGE = "@playcanvas/supersplat-viewer"
VENDOR = Path(str(resources.files("spaceport_orchestration.site"))) / "vendor" / "supersplat-viewer"
CONTENT_SCRIPT = "scene-sog.js"
FOV_DEG = 50.0
ELEVATION_DEG = 55.0  # the start camera looks down at the model from the south at this angle

# model frame -> viewer world frame, as the Euler angles (degrees) the entity is given
ENU_EULER = (-90.0, 0.0, 0.0)
COLMAP_EULER = (0.0, 0.0, 180.0)  # the viewer's own default


def _world_from_enu(e: float, n: float, u: float) -> tuple[float, float, float]:
    return (e, u, -n)


def _world_from_colmap(x: float, y: float, z: float) -> tuple[float, float, float]:
    return (-x, -y, z)


@dataclass(frozen=True)
class StartCamera:
    position: tuple[float, float, float]  # viewer world frame
    target: tuple[float, float, float]
    fov: float


def vendored_viewer() -> Path | None:
    """The vendored bundle's folder, or None before `make setup` copied it."""
    return VENDOR if (VENDOR / "index.js").is_file() else None


def _world(frame, xyz) -> tuple[float, float, float]:
    return tuple(round(float(v), 4) for v in frame(*xyz))


def _percentile(values: list[float], q: int) -> float:
    """The q-th percentile (q in 1..99); the Lambda that builds pages on AWS has no numpy."""
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def frame_camera(flight: dict | None) -> tuple[StartCamera | None, tuple[float, float, float]]:
    """The start camera and the entity's Euler angles, from the flight's sparse points.

    Georeferenced: above the model, from the south, looking at the points' median. Otherwise
    (the model's own frame has no known up): at the middle placed photo's centre, looking at
    the points' median. None when there are no points to frame.
    """
    georeferenced = bool(flight and flight.get("georeferenced"))
    euler = ENU_EULER if georeferenced else COLMAP_EULER
    xyz = (flight or {}).get("points", {}).get("xyz") or []
    if len(xyz) < 2:
        return None, euler
    axes = list(zip(*xyz, strict=True))  # x, y, z columns
    target = [statistics.median(a) for a in axes]
    low = [_percentile(list(a), 5) for a in axes]
    high = [_percentile(list(a), 95) for a in axes]
    if georeferenced:
        radius = 0.5 * math.hypot(high[0] - low[0], high[1] - low[1]) or 1.0
        distance = 1.4 * radius / math.tan(math.radians(FOV_DEG / 2))
        el = math.radians(ELEVATION_DEG)
        offset = (0.0, -distance * math.cos(el), distance * math.sin(el))
        position = [t + o for t, o in zip(target, offset, strict=True)]
        frame = _world_from_enu
    else:
        placed = [c["sfm"] for c in flight["cameras"] if c.get("placed")]
        position = placed[len(placed) // 2] if placed else high
        frame = _world_from_colmap
    camera = StartCamera(_world(frame, position), _world(frame, target), FOV_DEG)
    return camera, euler


def viewer_settings(camera: StartCamera | None) -> dict:
    """A complete v2 `settings.json` (the schema in the package's docs/api.md)."""
    off = {"enabled": False}
    return {
        "version": 2,
        "tonemapping": "none",
        "highPrecisionRendering": False,
        "background": {"color": [0.07, 0.07, 0.08]},
        "postEffectSettings": {
            "sharpness": {**off, "amount": 0},
            "bloom": {**off, "intensity": 0.1, "blurLevel": 2},
            "grading": {
                **off,
                "brightness": 1,
                "contrast": 1,
                "saturation": 1,
                "tint": [1, 1, 1],
            },
            "vignette": {**off, "intensity": 0.5, "inner": 0.3, "outer": 0.75, "curvature": 1},
            "fringing": {**off, "intensity": 0.5},
        },
        "animTracks": [],
        "cameras": (
            [
                {
                    "initial": {
                        "position": list(camera.position),
                        "target": list(camera.target),
                        "fov": camera.fov,
                    }
                }
            ]
            if camera
            else []
        ),
        "annotations": [],
        "startMode": "default",
    }


def _inline(text: str, what: str, closing: str) -> str:
    if closing in text.lower():
        raise SpaceportError(
            f"The vendored viewer's {what} contains {closing!r} and cannot be inlined; "
            f"pin another {VIEWER_PACKAGE} version."
        )
    return text


def write_viewer(site: Path, sog: Path, sog_href: str, flight: dict | None) -> Path | None:
    """`site/viewer.html` (+ settings.json, scene-sog.js); None when no viewer is vendored."""
    vendor = vendored_viewer()
    if vendor is None:
        return None
    camera, euler = frame_camera(flight)
    settings = viewer_settings(camera)
    (site / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
    encoded = base64.b64encode(sog.read_bytes()).decode("ascii")
    (site / CONTENT_SCRIPT).write_text(f'window.SPACEPORT_SOG_BASE64 = "{encoded}";\n')
    js = (vendor / "index.js").read_text(encoding="utf-8")
    js = "\n".join(ln for ln in js.splitlines() if not ln.startswith("//# sourceMappingURL="))
    config = {
        "settings": settings,
        "contentUrl": sog_href,
        "contentScript": CONTENT_SCRIPT,
        "euler": list(euler),
    }
    template = resources.files("spaceport_orchestration.site") / "assets" / "viewer.html"
    page = (
        template.read_text(encoding="utf-8")
        .replace("/*@VIEWER_CSS@*/", _inline((vendor / "index.css").read_text(), "CSS", "</style"))
        .replace("/*@CONFIG@*/null", json.dumps(config).replace("</", "<\\/"))
        .replace("/*@VIEWER_JS@*/", _inline(js, "bundle", "</script"))
    )
    path = site / "viewer.html"
    path.write_text(page, encoding="utf-8")
    return path
