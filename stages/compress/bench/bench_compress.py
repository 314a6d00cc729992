"""Benchmark: our compress stage against splat-transform (`-g cpu`) on the same SH-3 PLY.

    .venv/bin/python stages/compress/bench/bench_compress.py --data ../shared/data

Uses a trained model if one is found under --data (any `*.ply` with SH degree 3 and at least
--splats splats), otherwise a trained-looking synthetic one (the tests' synthetic_model.py)
of --splats splats. Prints, for each encoder: wall and CPU time, .sog size, ratio to the PLY and
the RMSE per attribute of the decoded scene against the PLY. Both outputs are decoded by our
decoder (the reference-reader tests show it decodes exactly as splat-transform does) and matched
to the PLY's splats by position (splat-transform reorders them). Also measures our PLAS ordering
and, with --big N, our ratio on a larger model. Prints figures; never asserts.

A trained SH-3 model of 150k splats from the drone photos, on the CPU (~40 min on 2 cores):

    .venv/bin/spaceport-sfm --input ../shared/data/brighton_beach/images --output /tmp/sfm \
        --set max_image_size=1000
    .venv/bin/spaceport-train --input /tmp/sfm --output /tmp/train --set steps=3000 \
        --set max_image_size=800 --set sh_degree_interval=300 --set refine_start=300 \
        --set refine_stop=2500 --set reset_every=100000 --set max_gaussians=150000
    make bench COMPRESS_PLY=/tmp/train/scene.ply   # or this script with --ply

A model past 1M splats (the size where the default palette passes 15x; ~2 h on 2 cores):
the same train command with `--set steps=2800 --set refine_every=75 --set refine_stop=2300
--set grow_grad2d=8e-5 --set max_gaussians=1500000`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from spaceport_compress.attributes import linear_opacity, log_transform
from spaceport_compress.decoder import read_model
from spaceport_compress.quality import attribute_rmse, unit_quats
from spaceport_compress.sog_format import read_sog
from spaceport_shared.errors import SpaceportError
from spaceport_shared.ply import read_ply, write_ply
from spaceport_shared.splat import SplatModel

REPO = Path(__file__).resolve().parents[3]
# The trained-looking synthetic model is a test fixture; the benchmark borrows it.
sys.path.insert(0, str(REPO / "stages" / "compress" / "tests"))
from synthetic_model import synthetic_model  # noqa: E402

CLI = REPO / "node_modules" / "@playcanvas" / "splat-transform" / "bin" / "cli.mjs"
OURS = Path(sys.executable).with_name("spaceport-compress")
ATTRIBUTES = ("means", "quats", "scales", "opacity", "sh0", "shN")


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], log: Path) -> tuple[float, float]:
    """Run argv; (wall seconds, CPU seconds of the child)."""
    cpu0, start = children_cpu_s(), time.perf_counter()
    with open(log, "w") as out:
        subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - start, children_cpu_s() - cpu0


def find_trained_ply(data: Path, min_splats: int) -> Path | None:
    for path in sorted(data.rglob("*.ply")) if data.is_dir() else []:
        try:
            model = read_ply(path)
        except SpaceportError:
            continue
        if model.sh_degree == 3 and model.count >= min_splats:
            return path
    return None


def one_to_one(candidates: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """The original row [M] for each decoded splat, cheapest pairs first, each original used at
    most once (greedy matching; a splat whose candidates are all taken keeps its cheapest)."""
    n, k = candidates.shape
    matched = candidates[np.arange(n), np.argmin(cost, axis=1)]
    done = np.zeros(n, bool)
    taken: set[int] = set()
    for pair in np.argsort(cost, axis=None, kind="stable"):
        splat, original = divmod(int(pair), k)
        original = int(candidates[splat, original])
        if done[splat] or original in taken:
            continue
        matched[splat], done[splat] = original, True
        taken.add(original)
    return matched


def matched_errors(original: SplatModel, sog: Path) -> dict[str, float]:
    """Per-attribute RMSE of the decoded `sog` against `original`, splat by splat.

    splat-transform reorders the splats, so each decoded splat is matched to an original: of the
    8 nearest by position, those whose log-space position lies within one 16-bit step (the
    format's precision) on every axis, and of those the nearest over all attributes (each
    scaled by its spread, positions by the step), each original taken once. On a trained model
    (150k splats) this reproduces the exact errors of our own output, whose order is known, to
    0.1%; picking each splat's nearest candidate over scales, colours, rotations and SH alone
    confused near-duplicates and inflated the scale error by 70%, colour 2x, opacity 20x.
    """
    decoded = read_model(sog)
    means = read_sog(sog).meta["means"]
    step = (np.asarray(means["maxs"]) - np.asarray(means["mins"])) / 65535

    def groups(m: SplatModel) -> list[np.ndarray]:
        return [
            m.scales,
            m.sh0[:, 0],
            unit_quats(m.quats),
            linear_opacity(m.opacities)[:, None],
            m.shN.reshape(m.count, -1),
        ]

    _, candidates = cKDTree(original.means).query(decoded.means, k=min(8, original.count))
    log_gap = np.abs(
        log_transform(original.means[candidates].astype(np.float64))
        - log_transform(decoded.means[:, None, :].astype(np.float64))
    )
    within = (log_gap <= step * 1.001 + 1e-9).all(axis=-1)
    # A trained model holds near-duplicate splats (densification copies) that differ in a few
    # attributes only: every attribute counts equally (the mean over its dimensions, each
    # scaled by its spread), positions by the 16-bit step.
    cost = ((log_gap / (step + 1e-12)) ** 2).mean(-1)
    for a, b in zip(groups(original), groups(decoded), strict=True):
        spread = a.std(axis=0) + 1e-9
        cost += (((a[candidates] - b[:, None, :]) / spread) ** 2).mean(-1)
    cost = np.where(within, cost, cost + 1e6)  # outside the step: only if nothing else fits
    rows = one_to_one(candidates, cost)
    return attribute_rmse(original.select(rows), decoded)


def run_ours(ply: Path, out: Path, original: SplatModel, *settings: str) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    argv = [str(OURS), "--input", str(ply), "--output", str(out)]
    for item in settings:
        argv += ["--set", item]
    wall, cpu = timed(argv, out.with_suffix(".log"))
    report = json.loads((out / "report.json").read_text())
    sog = out / "scene.sog"
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "bytes": sog.stat().st_size,
        "errors": matched_errors(original, sog),
        "steps": report["timings_s"],
    }


def run_reference(ply: Path, out: Path, original: SplatModel) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    sog = out / "scene.sog"
    wall, cpu = timed(
        ["node", str(CLI), "-w", "-g", "cpu", str(ply), str(sog)], out / "splat-transform.log"
    )
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "bytes": sog.stat().st_size,
        "errors": matched_errors(original, sog),
    }


def row(name: str, result: dict, ply_bytes: int) -> str:
    errors = "  ".join(f"{result['errors'][f'rmse_{a}']:.3e}" for a in ATTRIBUTES)
    return (
        f"{name:<22} {result['wall_s']:>8.1f} {result['cpu_s']:>8.1f} "
        f"{result['bytes'] / 1e6:>8.3f} {ply_bytes / result['bytes']:>6.2f}x  {errors}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="where to look for a trained PLY")
    parser.add_argument("--ply", type=Path, help="this trained PLY instead of searching --data")
    parser.add_argument("--splats", type=int, default=100_000, help="splats of the synthetic model")
    parser.add_argument("--out", type=Path, default=REPO / "bench-output" / "compress")
    parser.add_argument("--no-reference", action="store_true", help="skip splat-transform")
    parser.add_argument("--no-plas", action="store_true", help="skip the PLAS ordering run")
    parser.add_argument("--big", type=int, default=0, help="also our ratio on a model this big")
    parser.add_argument(
        "--palette-sizes",
        default="",
        help="comma-separated sh_palette_size values: ours only, size and SH error for each",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()

    ply = args.ply or find_trained_ply(args.data, args.splats)
    kind = "trained" if args.ply is None else "given"
    if ply is None:
        kind = "synthetic trained-like"
        ply = write_ply(args.out / "model.ply", synthetic_model(args.splats, sh_degree=3, seed=0))
    original = read_ply(ply)
    ply_bytes = ply.stat().st_size
    print(
        f"model: {ply} ({kind}, {original.count} splats, SH degree {original.sh_degree}, "
        f"{ply_bytes / 1e6:.1f} MB)"
    )
    print(
        f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores"
    )

    results = {"ours (morton)": run_ours(ply, args.out / "ours", original)}
    if not args.no_plas:
        results["ours (plas)"] = run_ours(ply, args.out / "ours-plas", original, "ordering=plas")
    if args.no_reference:
        print("splat-transform: skipped (--no-reference)")
    elif shutil.which("node") is None or not CLI.is_file():
        print("splat-transform: skipped (needs Node.js and node_modules: make setup)")
    else:
        results["splat-transform -g cpu"] = run_reference(ply, args.out / "reference", original)

    header = "encoder                    wall s    cpu s  sog MB  ratio  " + "  ".join(
        f"{a:>9}" for a in ATTRIBUTES
    )
    print(header)
    for name, result in results.items():
        print(row(name, result, ply_bytes))
    ours = results["ours (morton)"]
    print("our steps (s):", ", ".join(f"{k}={v}" for k, v in ours["steps"].items()))
    theirs = results.get("splat-transform -g cpu")
    if theirs:
        worse = [
            a for a in ATTRIBUTES if ours["errors"][f"rmse_{a}"] > theirs["errors"][f"rmse_{a}"]
        ]
        print(
            f"ours vs splat-transform: time {ours['wall_s'] / theirs['wall_s']:.3f}x wall, "
            f"{ours['cpu_s'] / theirs['cpu_s']:.3f}x cpu; "
            f"size {ours['bytes'] / theirs['bytes']:.3f}x;"
            f" attributes with a larger error: {', '.join(worse) or 'none'}"
        )
    for size in filter(None, args.palette_sizes.split(",")):
        out = args.out / f"ours-palette-{size}"
        sweep = run_ours(ply, out, original, f"sh_palette_size={size}")
        print(row(f"ours, palette {size}", sweep, ply_bytes))
        results[f"ours (morton, palette {size})"] = sweep
    if args.big:
        big_ply = write_ply(args.out / "big.ply", synthetic_model(args.big, sh_degree=3, seed=1))
        big = run_ours(big_ply, args.out / "ours-big", read_ply(big_ply))
        print(row(f"ours, {args.big} splats", big, big_ply.stat().st_size))
        results[f"ours (morton, {args.big} splats)"] = big
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    (args.out / "results.json").write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
