"""`build_site`: the static results page of one run, from what its stages wrote.

    site/index.html   the page (classic scripts only, so it also works opened from disk)
    site/data.js      the page's data: figures, flight, downloads (a script, not JSON: file://
                      pages may not fetch)
    site/viewer.html  the splat viewer (viewer.py), shown in a frame
    site/images/      the training curve and the held-out renders beside their photos

Every link is relative, so the folder works from disk, from localhost and from S3/CloudFront.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from spaceport_orchestration.site.viewer import write_viewer

ASSETS = ("index.html", "page.js", "page.css")
STAGE_TITLES = {"sfm": "Structure from motion", "train": "Training", "compress": "Compression"}


@dataclass(frozen=True)
class Figure:
    stage: str
    source: str  # dotted path inside the stage's report.json
    label: str
    unit: str = ""
    digits: int = 0  # decimals shown
    scale: float = 1.0  # shown = report value * scale


FIGURES = (
    Figure("sfm", "metrics.images_total", "photos used"),
    Figure("sfm", "metrics.images_registered", "photos placed"),
    Figure("sfm", "metrics.images_with_gps", "photos with GPS"),
    Figure("sfm", "metrics.points", "sparse points"),
    Figure("sfm", "metrics.mean_reprojection_error_px", "reprojection error", "px", 3),
    Figure("sfm", "metrics.mean_track_length", "mean track length", "", 2),
    Figure("sfm", "metrics.georeference_residual_rms_m", "georeference residual (RMS)", "m", 3),
    Figure("sfm", "details.georeference.origin.lat", "origin latitude", "°", 7),
    Figure("sfm", "details.georeference.origin.lon", "origin longitude", "°", 7),
    Figure("sfm", "details.georeference.origin.alt", "origin altitude", "m", 2),
    Figure("train", "metrics.psnr", "held-out PSNR", "dB", 2),
    Figure("train", "metrics.ssim", "held-out SSIM", "", 4),
    Figure("train", "metrics.gaussians", "Gaussians"),
    Figure("train", "metrics.steps", "steps"),
    Figure("train", "metrics.steps_per_s", "steps per second", "", 2),
    Figure("compress", "metrics.input_bytes", "trained .ply", "MB", 2, 1e-6),
    Figure("compress", "metrics.output_bytes", ".sog", "MB", 3, 1e-6),
    Figure("compress", "metrics.ratio", "compression ratio", "×", 2),
    Figure("compress", "metrics.splats_out", "splats kept"),
    Figure("compress", "metrics.bits_per_splat", "bits per splat", "", 1),
)


@dataclass
class SiteInputs:
    title: str
    reports: dict[str, dict[str, Any]]  # stage -> its report.json
    flight: dict[str, Any] | None = None  # the sfm stage's flight.json
    sog: Path | None = None  # the model, read to embed it for file:// pages
    sog_href: str = "../scene.sog"  # the model relative to the site folder
    downloads: list[tuple[str, str, int | None]] = field(default_factory=list)  # label, href, bytes
    curve: Path | None = None
    renders: list[Path] = field(default_factory=list)  # held-out photo | render PNGs
    seconds: dict[str, float | None] = field(default_factory=dict)  # this run's time per stage


def _lookup(report: dict[str, Any], dotted: str) -> Any:
    value: Any = report
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def figures(reports: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The figures the page shows, each with its value as the report holds it."""
    shown = []
    for fig in FIGURES:
        value = _lookup(reports.get(fig.stage, {}), fig.source)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            shown.append({**fig.__dict__, "value": value})
    return shown


def page_data(inputs: SiteInputs, images: dict[str, Any], viewer: str | None) -> dict[str, Any]:
    stages = []
    for stage, report in inputs.reports.items():
        stages.append(
            {
                "stage": stage,
                "title": STAGE_TITLES.get(stage, stage),
                "version": report.get("version"),
                "seconds": inputs.seconds.get(stage, report.get("timings_s", {}).get("total")),
                "timings_s": report.get("timings_s", {}),
                "warnings": report.get("warnings", []),
            }
        )
    return {
        "title": inputs.title,
        "figures": figures(inputs.reports),
        "stages": stages,
        "flight": inputs.flight,
        "downloads": [{"label": lb, "href": h, "bytes": b} for lb, h, b in inputs.downloads],
        "images": images,
        "viewer": viewer,
    }


def _copy_images(inputs: SiteInputs, site: Path) -> dict[str, Any]:
    folder = site / "images"
    folder.mkdir()
    images: dict[str, Any] = {"curve": None, "renders": []}
    if inputs.curve and inputs.curve.is_file():
        shutil.copy2(inputs.curve, folder / "training_curve.png")
        images["curve"] = "images/training_curve.png"
    for render in inputs.renders:
        shutil.copy2(render, folder / f"render-{render.name}")
        images["renders"].append({"name": render.stem, "href": f"images/render-{render.name}"})
    return images


def build_site(inputs: SiteInputs, site: Path) -> Path:
    """Write the page into `site` (replaced whole); returns its index.html."""
    site = Path(site)
    if site.exists():
        shutil.rmtree(site)
    site.mkdir(parents=True)
    assets = resources.files("spaceport_orchestration.site") / "assets"
    for name in ASSETS:
        (site / name).write_text((assets / name).read_text(encoding="utf-8"), encoding="utf-8")
    viewer = None
    if inputs.sog is not None and inputs.sog.is_file():
        written = write_viewer(site, inputs.sog, inputs.sog_href, inputs.flight)
        viewer = written.name if written else None
    data = page_data(inputs, _copy_images(inputs, site), viewer)
    text = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    (site / "data.js").write_text(f"window.SPACEPORT_PAGE = {text};\n", encoding="utf-8")
    return site / "index.html"
