"""Train stage speed on a CPU: the rasterizer, whole training steps, and the budget's cost model.

    .venv/bin/python stages/train/bench/bench_train.py [--fit-cost-model] [--repeats 5]

1. Rasterizer forward + backward (projection, binning, compositing; gradients of every Gaussian
   parameter and of means2d) on the benchmark scene (`train_scenes.benchmark_scene`: depths
   2-10, fx = fy = 300, 2-8 px splats covering the image), beside the dense PyTorch reference
   at 5k Gaussians, 160x120, in the same run.
2. Whole training steps (`trainer.train_step`: render, L1 + SSIM loss, backward, Adam, LR
   schedule, DefaultStrategy bookkeeping) at 320, 640 and 800 px wide (4:3) with 50k, 200k and
   500k Gaussians, as steps/s.
3. `--fit-cost-model`: least squares of (2)'s step seconds on pixels and Gaussians, written to
   `spaceport_shared`'s `train_cost_model.json`, which `budget.plan` and the orchestration's
   estimate read (`make bench` does this).

Medians after one warm-up; the machine's load is printed beside them, since wall time on a
shared machine says little alone. `--data` is accepted for `make bench` and not needed.
"""

from __future__ import annotations

# isort: skip_file
# spaceport_train first: it sets the kernels' OpenMP spin count before torch loads libgomp
import spaceport_train  # noqa: F401

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy.optimize
import torch

from spaceport_shared.cost_model import TRAIN_COST_TERMS, train_cost_model_path
from spaceport_shared.settings import parse_settings
from spaceport_train.backend import configure_cpu_threads, configure_numba_threads
from spaceport_train.budget import with_defaults
from spaceport_train.cpu_rasterizer import rasterization_cpu
from spaceport_train.scene_data import Normalization, SceneData, View
from spaceport_train.settings import TrainSettings
from spaceport_train.trainer import build_state, train_step

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the fixture modules
from train_reference import rasterization_reference
from train_scenes import benchmark_scene

TRAIN_SIZES = ((320, 240), (640, 480), (800, 600))
TRAIN_GAUSSIANS = (50_000, 200_000, 500_000)


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def raster_times(raster, n: int, width: int, height: int, repeats: int) -> tuple[float, float]:
    """Median (wall s, CPU s) of forward + backward, after one warm-up step."""
    scene = benchmark_scene(n, width, height)
    walls, cpus = [], []
    for i in range(repeats + 1):
        leaves = scene.leaves()
        wall, cpu = time.perf_counter(), time.process_time()
        img, alpha, info = raster(*leaves, scene.viewmats, scene.Ks, width, height)
        info["means2d"].retain_grad()
        (img.sum() + alpha.sum()).backward()
        if i:  # the first run compiles / warms caches
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def train_step_seconds(n: int, width: int, height: int, repeats: int) -> float:
    """Median seconds of one training step on the benchmark scene (no densification due)."""
    bench = benchmark_scene(n, width, height)
    gen = torch.Generator().manual_seed(1)
    view = View(
        name="bench",
        pixels=torch.randint(0, 256, (height, width, 3), generator=gen, dtype=torch.uint8),
        K=bench.Ks[0],
        viewmat=bench.viewmats[0],
        cam_from_world=np.eye(4)[:3],
    )
    scene = SceneData(
        train=[view],
        test=[],
        points=bench.means.numpy(),
        colors=bench.colors.numpy(),
        normalization=Normalization(center=np.zeros(3), scale=1.0),
        scene_scale=10.0,
    )
    settings = with_defaults(
        parse_settings(
            TrainSettings,
            {
                "steps": "100000",
                "sh_degree": "0",
                "refine_start": "100000",
                "refine_stop": "100000",
            },
        )
    )
    state = build_state(settings, scene, torch.device("cpu"))
    with torch.no_grad():  # the benchmark's own splat sizes and opacities, not 3-NN ones
        state.splats["scales"].copy_(torch.log(bench.scales))
        state.splats["opacities"].copy_(torch.logit(bench.opacities))
    times = []
    for i in range(repeats + 1):
        started = time.perf_counter()
        train_step(state, scene, settings, "cpu", torch.device("cpu"))
        if i:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def fit_cost_model(samples: list[tuple[int, int, float]]) -> dict[str, float]:
    """`budget.CostModel`'s coefficients by non-negative least squares (a negative one would
    let the planner promise steps for free)."""
    a = np.array([[1.0, px / 1e6, n / 1e6, px / 1e6 * n / 1e6] for px, n, _ in samples])
    b = np.array([s for _, _, s in samples])
    coefficients, _ = scipy.optimize.nnls(a, b)
    return {
        name: round(float(c), 5) for name, c in zip(TRAIN_COST_TERMS, coefficients, strict=True)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="unused: the benchmark scenes are synthetic")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--reference-repeats", type=int, default=1)
    parser.add_argument(
        "--fit-cost-model", action="store_true", help="write shared's train_cost_model.json"
    )
    args = parser.parse_args()
    configure_numba_threads()
    configure_cpu_threads()
    print(f"cores: {os.cpu_count()}, load before: {load()}")
    print("rasterizer forward + backward")
    print(f"{'backend':<10} {'size':>9} {'gaussians':>9} {'wall ms':>9} {'cpu ms':>9} {'load':>6}")
    results = {}
    cases = [
        ("cpu", rasterization_cpu, 320, 240, 10_000, args.repeats),
        ("cpu", rasterization_cpu, 320, 240, 50_000, args.repeats),
        ("cpu", rasterization_cpu, 160, 120, 5_000, args.repeats),
        ("reference", rasterization_reference, 160, 120, 5_000, args.reference_repeats),
    ]
    for name, raster, w, h, n, repeats in cases:
        wall, cpu = raster_times(raster, n, w, h, repeats)
        results[(name, w, n)] = wall
        print(
            f"{name:<10} {f'{w}x{h}':>9} {n:>9} {wall * 1e3:>9.1f} {cpu * 1e3:>9.1f} {load():>6}",
            flush=True,
        )
    ratio = results[("reference", 160, 5_000)] / results[("cpu", 160, 5_000)]
    print(f"dense reference / CPU backend at 160x120, 5k Gaussians: {ratio:.0f}x")

    print("training steps (render, loss, backward, Adam, strategy)")
    print(f"{'size':>9} {'gaussians':>9} {'steps/s':>8} {'ms/step':>8} {'load':>6}")
    samples = []
    for w, h in TRAIN_SIZES:
        for n in TRAIN_GAUSSIANS:
            seconds = train_step_seconds(n, w, h, max(2, args.repeats // 2))
            samples.append((w * h, n, seconds))
            print(f"{f'{w}x{h}':>9} {n:>9} {1 / seconds:>8.2f} {seconds * 1e3:>8.0f} {load():>6}")
    model = fit_cost_model(samples)
    print("cost model:", ", ".join(f"{k}={v}" for k, v in model.items()))
    if args.fit_cost_model:
        model["measured"] = (
            f"bench_train.py --fit-cost-model, {os.cpu_count()} cores, load {load()}"
        )
        path = train_cost_model_path()
        path.write_text(json.dumps(model, indent=2) + "\n")
        print(f"wrote {path}")
    print(f"load after: {load()}")


if __name__ == "__main__":
    main()
