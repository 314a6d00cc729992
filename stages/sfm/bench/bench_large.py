"""Benchmark: how the SfM stage scales with the number of photos, on the `large` synthetic survey.

    .venv/bin/python stages/sfm/bench/bench_large.py [--survey DIR] [--sizes 50,100,200,400]
        [--set key=value ...] [--json OUT]

The survey (400 photos, `spaceport synth DIR --preset large`) is rendered into `--survey` when
that folder is empty. Each subset is the first N photos in capture order (a contiguous block of
the flight, as a shorter flight would be), run through the whole stage (`spaceport-sfm`) in its
own process, so that its peak resident memory and CPU time are its own. Per subset: seconds of
each step, CPU seconds, peak RSS, pairs planned, images registered, models found, the GPS
residual, and the rotation and camera-centre errors against the survey's ground truth (the
stage's ENU frame has the survey's origin, so no further alignment). Then the exponent b of
time ~ N^b, fitted over the subsets, for the wall time, the CPU time and each step. Wall time
depends on the machine's load (printed with it); CPU time less so. Benchmarks print, they never
assert.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pycolmap

from spaceport_shared.cost_model import sfm_cost_model_path
from spaceport_synth import DEFAULT_ORIGIN, GeoOrigin, GroundTruth, generate, read_ground_truth
from spaceport_synth.rotation import rotation_angle_deg

_JUMP_M = 10.0  # a fix this far from its true position is a thrown one (the survey throws 40 m)
STEPS = ("prepare", "extract", "match", "map", "georeference", "undistort")


@dataclass
class SubsetResult:
    photos: int
    wall_s: float
    cpu_s: float
    peak_rss_mib: float
    steps_s: dict[str, float]
    pairs_planned: int = 0
    registered: int = 0
    models_found: int = 0
    models_merged: int = 0
    gps_residual_rms_m: float = math.nan
    rotation_error_median_deg: float = math.nan
    rotation_error_max_deg: float = math.nan
    # each image's rotation error once the whole model's one rotation (tilt, heading) is taken
    # out: the reconstruction's own accuracy, which no georeference cue limits
    rotation_error_in_model_median_deg: float = math.nan
    centre_error_median_m: float = math.nan
    centre_error_max_m: float = math.nan
    extent_m: float = math.nan
    model_tilt_deg: float = math.nan  # the whole model's rotation from the truth: its tilt
    model_heading_deg: float = math.nan  # ... and its turn about the vertical
    gps_heading_deg: float = math.nan  # the turn the GPS fixes themselves show, against the truth
    photo_tilt_deg: float = math.nan  # the true nadir views' mean axis from straight down
    load: str = ""
    error: str = ""
    extra: dict = field(default_factory=dict)


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def ensure_survey(root: Path) -> Path:
    if not (root / "ground_truth.json").exists():
        started = time.perf_counter()
        generate(root, preset="large")
        print(f"rendered the large survey in {time.perf_counter() - started:.0f} s ({load()})")
    return root


def subset_input(survey: Path, count: int, work: Path) -> Path:
    """The first `count` photos in capture order, linked into a folder of their own."""
    folder = work / f"input-{count}"
    folder.mkdir(parents=True, exist_ok=True)
    for name in sorted(p.name for p in (survey / "images").glob("*.jpg"))[:count]:
        link = folder / name
        if not link.exists():
            link.symlink_to((survey / "images" / name).resolve())
    return folder


def compare_with_truth(out: Path, survey: Path, count: int) -> dict[str, float]:
    """Rotation and centre errors of the stage's model (ENU) against the true poses."""
    truth = read_ground_truth(survey)
    uploaded = json.loads((out / "image_names.json").read_text())  # internal -> user's name
    model = pycolmap.Reconstruction(out / "sparse" / "0")
    rotations, centres, turns, nadir_axes = [], [], [], []
    for image in model.images.values():
        if not image.has_pose:
            continue
        t = truth.images[uploaded[image.name]]
        r_est = image.cam_from_world().rotation.matrix()
        rotations.append(rotation_angle_deg(r_est, t.cam_from_world_rotation))
        centres.append(float(np.linalg.norm(image.projection_center() - t.camera_center)))
        turns.append(r_est.T @ t.cam_from_world_rotation)  # world (model) from world (truth)
        if t.kind == "nadir":
            nadir_axes.append(t.cam_from_world_rotation[2])  # camera +z in the world
    mean_turn = mean_rotation(np.array(turns))
    tilt, heading = tilt_and_heading_deg(mean_turn)
    in_model = [rotation_angle_deg(turn, mean_turn) for turn in turns]
    true_xy = np.array([img.camera_center[:2] for img in list(truth.images.values())[:count]])
    extent = float(np.linalg.norm(true_xy.max(axis=0) - true_xy.min(axis=0)))
    return {
        "rotation_error_median_deg": float(np.median(rotations)),
        "rotation_error_max_deg": float(np.max(rotations)),
        "rotation_error_in_model_median_deg": float(np.median(in_model)),
        "centre_error_median_m": float(np.median(centres)),
        "centre_error_max_m": float(np.max(centres)),
        "extent_m": extent,
        "model_tilt_deg": tilt,
        "model_heading_deg": heading,
        "gps_heading_deg": gps_heading_deg(out, truth),
        # the photos' vertical (gps_quality.photo_up: the nadir views' mean axis) is off by this
        "photo_tilt_deg": math.degrees(
            math.acos(-np.mean(nadir_axes, axis=0)[2] / np.linalg.norm(np.mean(nadir_axes, axis=0)))
        ),
    }


def mean_rotation(turns: np.ndarray) -> np.ndarray:
    """The mean of rotations `turns` [N, 3, 3], projected onto SO(3): [3, 3]."""
    u, _, vt = np.linalg.svd(turns.mean(axis=0))
    return u @ np.diag([1.0, 1.0, np.linalg.det(u @ vt)]) @ vt


def tilt_and_heading_deg(mean: np.ndarray) -> tuple[float, float]:
    """Rotation `mean` [3, 3] as its tilt (about a horizontal axis) and heading (about +z),
    degrees: what one rotation of the whole model leaves, where the photos' vertical and the
    GPS each take their share."""
    angle = math.acos(min(1.0, max(-1.0, (np.trace(mean) - 1.0) / 2.0)))
    skew = np.array([mean[2, 1] - mean[1, 2], mean[0, 2] - mean[2, 0], mean[1, 0] - mean[0, 1]])
    axis_angle = skew / 2.0 * (angle / math.sin(angle) if angle > 1e-12 else 1.0)
    return math.degrees(float(np.linalg.norm(axis_angle[:2]))), math.degrees(axis_angle[2])


def gps_heading_deg(out: Path, truth: GroundTruth) -> float:
    """The heading of the GPS fixes against the true centres (2D Procrustes, thrown fixes left
    out): the floor for the model's heading, which follows them."""
    cameras = json.loads((out / "flight.json").read_text())["cameras"]
    fixes = np.array([c["gps"] for c in cameras if c.get("gps")])[:, :2]
    true = np.array([truth.images[c["name"]].camera_center for c in cameras if c.get("gps")])
    near = np.linalg.norm(fixes - true[:, :2], axis=1) < _JUMP_M  # thrown fixes left out
    a, b = true[near, :2] - true[near, :2].mean(0), fixes[near] - fixes[near].mean(0)
    h = a.T @ b
    return math.degrees(math.atan2(h[0, 1] - h[1, 0], h[0, 0] + h[1, 1]))


def run_subset(
    survey: Path, count: int, work: Path, settings: list[str], origin: GeoOrigin
) -> SubsetResult:
    """The stage on the first `count` photos; its figures also go to work/result-N.json."""
    images = subset_input(survey, count, work)
    out = work / f"out-{count}"
    argv = [sys.executable, "-m", "spaceport_sfm.cli", "--input", str(images), "--output", str(out)]
    for item in (f"origin={origin.lat},{origin.lon},{origin.alt}", *settings):
        argv += ["--set", item]
    before = load()
    started = time.perf_counter()
    log = (work / f"sfm-{count}.log").open("w")
    child = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(child.pid, 0)  # this child's own peak RSS and CPU time
    wall = time.perf_counter() - started
    log.close()
    result = SubsetResult(
        photos=count,
        wall_s=round(wall, 1),
        cpu_s=round(usage.ru_utime + usage.ru_stime, 1),
        peak_rss_mib=round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
        steps_s={},
        load=f"{before} -> {load()}",
    )
    if os.waitstatus_to_exitcode(status) != 0:
        result.error = f"exit {os.waitstatus_to_exitcode(status)}; see {log.name}"
    else:
        read_report(result, out)
    (work / f"result-{count}.json").write_text(json.dumps(asdict(result), indent=2) + "\n")
    return result


def read_report(result: SubsetResult, out: Path) -> None:
    report = json.loads((out / "report.json").read_text())
    metrics = report["metrics"]
    result.steps_s = {k: v for k, v in report["timings_s"].items() if k in STEPS}
    result.pairs_planned = int(metrics["pairs_planned"])
    result.registered = int(metrics["images_registered"])
    result.models_found = int(metrics.get("models_found", 0))
    result.models_merged = int(metrics.get("models_merged", 1))
    result.gps_residual_rms_m = float(metrics.get("georeference_residual_rms_m", math.nan))


def subset(survey: Path, count: int, work: Path, settings: list[str], reuse: bool) -> SubsetResult:
    """The figures of one subset, against the ground truth; `reuse`: an earlier run's."""
    saved = work / f"result-{count}.json"
    if reuse and saved.exists():
        result = SubsetResult(**json.loads(saved.read_text()))
    else:
        origin = (
            read_ground_truth(survey).origin
            if (survey / "ground_truth.json").exists()
            else (
                DEFAULT_ORIGIN  # still rendering: `generate`'s default, which ensure_survey uses
            )
        )
        result = run_subset(survey, count, work, settings, origin)
    if not result.error and (survey / "ground_truth.json").exists():
        for key, value in compare_with_truth(work / f"out-{count}", survey, count).items():
            setattr(result, key, round(value, 4))
    return result


def exponent(sizes: list[int], seconds: list[float]) -> float:
    """b of seconds ~ a N^b, least squares in log-log."""
    ok = [(n, s) for n, s in zip(sizes, seconds, strict=True) if s > 0]
    if len(ok) < 2:
        return math.nan
    x, y = np.log([n for n, _ in ok]), np.log([s for _, s in ok])
    return float(np.polyfit(x, y, 1)[0])


def show(results: list[SubsetResult]) -> dict[str, float]:
    header = (
        f"{'N':>4} {'wall s':>7} {'cpu s':>7} {'RSS MiB':>8} {'extract':>7} {'match':>6} "
        f"{'map':>6} {'georef':>6} {'pairs':>6} {'reg':>4} {'models':>6} {'merged':>6} "
        f"{'gps rms':>7} {'rot med':>7} {'rot max':>7} {'rot mdl':>7} {'tilt':>6} {'photos':>6} "
        f"{'turn':>6} {'gps trn':>7} "
        f"{'ctr med':>7} {'ctr/ext':>7}"
    )
    print(header)
    for r in results:
        s = r.steps_s
        print(
            f"{r.photos:>4} {r.wall_s:>7.1f} {r.cpu_s:>7.1f} {r.peak_rss_mib:>8.0f} "
            f"{s.get('extract', 0):>7.1f} {s.get('match', 0):>6.1f} {s.get('map', 0):>6.1f} "
            f"{s.get('georeference', 0):>6.1f} {r.pairs_planned:>6} {r.registered:>4} "
            f"{r.models_found:>6} {r.models_merged:>6} {r.gps_residual_rms_m:>7.2f} "
            f"{r.rotation_error_median_deg:>7.3f} {r.rotation_error_max_deg:>7.3f} "
            f"{r.rotation_error_in_model_median_deg:>7.3f} "
            f"{r.model_tilt_deg:>6.3f} {r.photo_tilt_deg:>6.3f} {r.model_heading_deg:>6.3f} "
            f"{r.gps_heading_deg:>7.3f} "
            f"{r.centre_error_median_m:>7.2f} "
            f"{100 * r.centre_error_median_m / r.extent_m:>6.2f}%"
            + (f"  ERROR {r.error}" if r.error else "")
        )
    done = [r for r in results if not r.error]
    sizes = [r.photos for r in done]
    fits = {
        "wall": exponent(sizes, [r.wall_s for r in done]),
        "cpu": exponent(sizes, [r.cpu_s for r in done]),
    }
    for step in ("extract", "match", "map", "georeference"):
        fits[step] = exponent(sizes, [r.steps_s.get(step, 0.0) for r in done])
    print("time ~ N^b over " + ",".join(map(str, sizes)) + ": "
          + ", ".join(f"{k} b={v:.2f}" for k, v in fits.items()))  # fmt: skip
    return fits


def fit_cost_model(results: list[SubsetResult]) -> dict[str, float | str]:
    """SfM's CPU seconds ~ at_100_s (N / 100) ** exponent over the subsets, written to
    `spaceport_shared`'s `sfm_cost_model.json` for the orchestration's estimate."""
    done = [r for r in results if not r.error and r.cpu_s > 0]
    if len(done) < 2:
        raise SystemExit("the SfM cost model needs at least two finished subsets")
    x = np.log([r.photos / 100 for r in done])
    b, log_a = np.polyfit(x, np.log([r.cpu_s for r in done]), 1)
    model: dict[str, float | str] = {
        "at_100_s": round(float(np.exp(log_a)), 2),
        "exponent": round(float(b), 3),
        "measured": (
            f"bench_large.py CPU seconds of {'/'.join(str(r.photos) for r in done)} photos of the "
            f"large survey ({'/'.join(f'{r.cpu_s:.0f}' for r in done)} s), {os.cpu_count()} "
            f"cores, {done[-1].load}"
        ),
    }
    sfm_cost_model_path().write_text(json.dumps(model, indent=2) + "\n")
    print(f"wrote {sfm_cost_model_path()}: {model}")
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--survey", type=Path, default=Path("bench-output/large-survey"))
    parser.add_argument("--work", type=Path, default=Path("bench-output/sfm-large"))
    parser.add_argument("--sizes", default="50,100,200,400")
    parser.add_argument("--set", dest="settings", action="append", default=[],
                        metavar="KEY=VALUE", help="an SfM setting for every subset")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--fit-cost-model", action="store_true",
                        help="refit spaceport_shared's sfm_cost_model.json")  # fmt: skip
    parser.add_argument("--reuse", action="store_true",
                        help="take a subset's figures from an earlier run in --work")  # fmt: skip
    parser.add_argument("--no-render", action="store_true",
                        help="use the photos --survey holds so far (still rendering)")  # fmt: skip
    args = parser.parse_args()
    survey = args.survey if args.no_render else ensure_survey(args.survey)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"SfM scaling on {survey} (settings: {args.settings or 'defaults'}; {load()})")
    results = []
    for count in sizes:
        work = args.work / ("-".join(args.settings) or "defaults")
        results.append(subset(survey, count, work, args.settings, args.reuse))
        r = results[-1]
        print(f"  {count} photos: {r.wall_s:.0f} s wall, {r.cpu_s:.0f} s CPU, "
              f"{r.registered} registered, {r.error or 'ok'} ({r.load})", flush=True)  # fmt: skip
    fits = show(results)
    if args.fit_cost_model:
        fit_cost_model(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"settings": args.settings, "subsets": [asdict(r) for r in results], "fits": fits}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
