"""Rasterizer step time on a CPU: the CPU backend (numba) and the dense PyTorch reference.

    .venv/bin/python stages/train/bench/bench_train.py [--data ../shared/data] [--repeats 7]

One step = projection + binning + rasterization, forward and backward (gradients of every
Gaussian parameter and of means2d), on issue 5's benchmark scene (`benchmark_scene`: depths
2-10, fx = fy = 300, 2-8 px splats covering the image). Prints the median wall time, the
median CPU time of the process, and the machine's load, since wall time on a shared machine
says little alone. `--data` is accepted for `make bench` and not needed (synthetic scene).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from spaceport_train.backend import configure_cpu_threads, configure_numba_threads
from spaceport_train.cpu_rasterizer import rasterization_cpu

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the fixture modules
from train_reference import rasterization_reference
from train_scenes import benchmark_scene


def step_times(raster, n: int, width: int, height: int, repeats: int) -> tuple[float, float]:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="unused: the benchmark scene is synthetic")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--reference-repeats", type=int, default=1)
    args = parser.parse_args()
    configure_numba_threads()
    configure_cpu_threads()
    print(f"cores: {os.cpu_count()}, load before: {os.getloadavg()[0]:.2f}")
    print(f"{'backend':<10} {'size':>9} {'gaussians':>9} {'wall ms':>9} {'cpu ms':>9}")
    results = {}
    cases = [
        ("cpu", rasterization_cpu, 320, 240, 10_000, args.repeats),
        ("cpu", rasterization_cpu, 320, 240, 50_000, args.repeats),
        ("cpu", rasterization_cpu, 160, 120, 5_000, args.repeats),
        ("reference", rasterization_reference, 160, 120, 5_000, args.reference_repeats),
    ]
    for name, raster, w, h, n, repeats in cases:
        wall, cpu = step_times(raster, n, w, h, repeats)
        results[(name, w, n)] = wall
        print(f"{name:<10} {f'{w}x{h}':>9} {n:>9} {wall * 1e3:>9.1f} {cpu * 1e3:>9.1f}", flush=True)
    ratio = results[("reference", 160, 5_000)] / results[("cpu", 160, 5_000)]
    print(f"dense reference / CPU backend at 160x120, 5k Gaussians: {ratio:.0f}x")
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
