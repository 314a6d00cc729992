"""Benchmark: the SfM stage against plain pycolmap defaults on the same photos, in one run.

    .venv/bin/python stages/sfm/bench/bench_sfm.py --data ../shared/data [--sets lund]

`--data` is either a folder of photo sets (each `<set>/images/`) or one set's image folder. For
each set, back to back: plain pycolmap defaults (`extract_features` with one camera,
`match_exhaustive`, `incremental_mapping`, as the shared data's README measured them), then our
stage with default settings (everything: preparing, matching, mapping, georeferencing,
undistorting, plotting). Prints time, registered images, points and mean reprojection error
(each in the pixels of the images it used) and the time ratio. Nothing is cached between runs;
the machine's load is printed with the figures. Benchmarks print, they never assert.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pycolmap

from spaceport_sfm.cli import SPEC
from spaceport_sfm.settings import SfmSettings
from spaceport_shared.entrypoint import execute_stage


@dataclass
class Result:
    seconds: float
    registered: int
    images: int
    points: int
    reprojection_px: float
    steps: dict[str, float]
    models: int = 1  # separate models; the figures are the largest's
    figures: str = ""  # georeference and focal figures (ours)


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_defaults(images: Path, work: Path) -> Result:
    database = work / "database.db"
    steps = {}
    start = time.perf_counter()
    pycolmap.extract_features(database, images, camera_mode=pycolmap.CameraMode.SINGLE)
    steps["extract"] = time.perf_counter() - start
    pycolmap.match_exhaustive(database)
    steps["match"] = time.perf_counter() - start - steps["extract"]
    models = pycolmap.incremental_mapping(database, images, work)
    total = time.perf_counter() - start
    steps["map"] = total - steps["extract"] - steps["match"]
    with pycolmap.Database.open(database) as db:
        n_images = db.num_images()
    if not models:
        return Result(total, 0, n_images, 0, float("nan"), steps, 0)
    best = max(models.values(), key=lambda r: r.num_reg_images())
    return Result(
        total,
        best.num_reg_images(),
        n_images,
        best.num_points3D(),
        best.compute_mean_reprojection_error(),
        steps,
        len(models),
    )


_FIGURES = (
    ("georeference_residual_rms_m", "GPS residual RMS {:.2f} m"),
    ("georeference_horizontal_rms_m", "horizontal RMS {:.2f}"),
    ("georeference_horizontal_median_m", "median {:.2f}"),
    ("georeference_horizontal_p95_m", "p95 {:.2f}"),
    ("georeference_vertical_rms_m", "vertical RMS {:.2f}"),
    ("georeference_inlier_share", "inliers {:.0%}"),
    ("gps_horizontal_noise_m", "GPS sigma h {:.2f}"),
    ("gps_vertical_noise_m", "v {:.2f} m"),
    ("gps_altitude_drift_m", "altitude drift {:+.1f} m"),
    ("gps_jumps", "jumps {:.0f}"),
    ("ground_tilt_deg", "ground tilt {:.1f} deg"),
    ("focal_prior_px", "focal prior {:.0f} px"),
    ("focal_refined_px", "refined {:.0f} px"),
    ("focal_change", "({:+.1%})"),
)


def run_ours(images: Path, work: Path) -> Result:
    out = work / "out"
    start = time.perf_counter()
    report = execute_stage(SPEC, SfmSettings(), images, out)
    total = time.perf_counter() - start
    m = report.metrics
    print(f"    matching: {report.details['matching']['reason']}")
    print(f"    mapping: {report.details['mapping']['note']}")
    for warning in report.warnings:
        print(f"    warning: {warning}")
    figures = ", ".join(fmt.format(m[key]) for key, fmt in _FIGURES if key in m)
    return Result(
        total,
        int(m["images_registered"]),
        int(m["images_total"]),
        int(m["points"]),
        float(m["mean_reprojection_error_px"]),
        {k: v for k, v in report.timings_s.items() if k != "total"},
        int(m["models_found"]),
        figures,
    )


def show(label: str, r: Result) -> None:
    steps = ", ".join(f"{k} {v:.1f}" for k, v in r.steps.items())
    print(
        f"  {label:9s} {r.seconds:7.1f} s  registered {r.registered}/{r.images} "
        f"(largest of {r.models} models)  points {r.points}  reprojection "
        f"{r.reprojection_px:.3f} px  ({steps})",
        flush=True,
    )
    if r.figures:
        print(f"    {r.figures}", flush=True)


def image_sets(data: Path, names: list[str] | None) -> list[tuple[str, Path]]:
    found = [(d.name, d / "images") for d in sorted(data.iterdir()) if (d / "images").is_dir()]
    if not found:  # one set's image folder
        return [(data.name, data)]
    return [(n, p) for n, p in found if names is None or n in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--sets", help="comma-separated set names (default: all)")
    parser.add_argument("--verbose", action="store_true", help="keep pycolmap's log")
    args = parser.parse_args()
    if not args.verbose:
        pycolmap.logging.minloglevel = 2  # errors only: the figures stay readable
        logging.basicConfig(level=logging.WARNING)
    names = args.sets.split(",") if args.sets else None
    if not args.data.is_dir():
        print(f"no data at {args.data}: nothing to benchmark")
        return
    print(f"pycolmap {pycolmap.__version__}, {os.cpu_count()} CPUs, {load()}")
    for name, images in image_sets(args.data, names):
        print(f"{name}: {images}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "defaults").mkdir()
            (Path(tmp) / "ours").mkdir()
            defaults = run_defaults(images, Path(tmp) / "defaults")
            show("defaults", defaults)
            print(f"    {load()}", flush=True)
            ours = run_ours(images, Path(tmp) / "ours")
            show("spaceport", ours)
        ratio = ours.seconds / defaults.seconds
        error = ours.reprojection_px / defaults.reprojection_px
        print(
            f"  => time ratio {ratio:.2f} (1/{1 / ratio:.1f}), reprojection ratio {error:.2f}, "
            f"registered {ours.registered}/{ours.images} vs {defaults.registered}/"
            f"{defaults.images}; {load()}",
            flush=True,
        )


if __name__ == "__main__":
    main()
