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
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from spaceport_shared.errors import SpaceportError

VIEWER_PACKAGE = "@playcanvas/supersplat-viewer"
VENDOR = Path(str(resources.files("spaceport_orchestration.site"))) / "vendor" / "supersplat-viewer"
CONTENT_SCRIPT = "scene-sog.js"
FOV_DEG = 50.0
ELEVATION_DEG = 55.0  # the start camera looks down at the model from the south at this angle

# model frame -> viewer world frame, as the Euler angles (degrees) the entity is given
ENU_EULER = (-90.0, 0.0, 0.0)
COLMAP_EULER = (0.0, 0.0, 180.0)  # the viewer's own default
_WORLD_FROM_ENU = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])
_WORLD_FROM_COLMAP = np.diag([-1.0, -1.0, 1.0])


@dataclass(frozen=True)
class StartCamera:
    position: tuple[float, float, float]  # viewer world frame
    target: tuple[float, float, float]
    fov: float


def vendored_viewer() -> Path | None:
    """The vendored bundle's folder, or None before `make setup` copied it."""
    return VENDOR if (VENDOR / "index.js").is_file() else None


def _world(frame: np.ndarray, xyz: np.ndarray) -> tuple[float, float, float]:
    return tuple(round(float(v), 4) for v in frame @ xyz)


def frame_camera(flight: dict | None) -> tuple[StartCamera | None, tuple[float, float, float]]:
    """The start camera and the entity's Euler angles, from the flight's sparse points.

    Georeferenced: above the model, from the south, looking at the points' median. Otherwise
    (the model's own frame has no known up): at the middle placed photo's centre, looking at
    the points' median. None when there are no points to frame.
    """
    georeferenced = bool(flight and flight.get("georeferenced"))
    euler = ENU_EULER if georeferenced else COLMAP_EULER
    xyz = np.asarray((flight or {}).get("points", {}).get("xyz") or [], np.float64).reshape(-1, 3)
    if not len(xyz):
        return None, euler
    target = np.median(xyz, axis=0)
    low, high = np.percentile(xyz, [5, 95], axis=0)
    if georeferenced:
        radius = 0.5 * float(np.hypot(*(high - low)[:2])) or 1.0
        distance = 1.4 * radius / math.tan(math.radians(FOV_DEG / 2))
        el = math.radians(ELEVATION_DEG)
        position = target + distance * np.array([0.0, -math.cos(el), math.sin(el)])
        frame = _WORLD_FROM_ENU
    else:
        placed = [c["sfm"] for c in flight["cameras"] if c.get("placed")]
        position = np.asarray(placed[len(placed) // 2], np.float64) if placed else high
        frame = _WORLD_FROM_COLMAP
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
