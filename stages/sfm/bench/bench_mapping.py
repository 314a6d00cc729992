"""Benchmark: the mapping step alone, on subsets of one matched database, with and without
`large_scene.py`'s bounded global adjustments (or GLOMAP), so the curves compare at equal input.

    .venv/bin/python stages/sfm/bench/bench_mapping.py --database DB --images DIR
        [--sizes 50,100,200,400] [--variants default,bounded,global] [--json OUT]

`DB`: a COLMAP database with features and verified matches of every photo (copy it from a run
of the stage, e.g. `bench_large.py`'s 400-photo run, once matching is done). Each subset is the
first N images by name (`image_names` restricts pycolmap's mapper to them); each mapping runs
in its own process, so CPU seconds and peak RSS are its own. Prints wall and CPU seconds,
registered images, models, and the exponent of CPU time ~ N^b per variant. Never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pycolmap

from spaceport_sfm.large_scene import LARGE_FROM_IMAGES, tune_incremental

VARIANTS = ("default", "bounded", "global")


def names_in(database: Path) -> list[str]:
    with pycolmap.Database.open(database) as db:
        return sorted(image.name for image in db.read_all_images())


def map_child(database: Path, images: Path, count: int, variant: str) -> dict:
    names = names_in(database)[:count]
    with tempfile.TemporaryDirectory() as out:
        if variant == "global":
            options = pycolmap.GlobalPipelineOptions()
            options.image_names = names
            models = pycolmap.global_mapping(database, images, out, options)
        else:
            options = pycolmap.IncrementalPipelineOptions()
            options.image_names = names
            options.random_seed = 0
            if variant == "bounded":
                tune_incremental(options, max(count, LARGE_FROM_IMAGES))
            models = pycolmap.incremental_mapping(database, images, out, options)
    sizes = sorted((m.num_reg_images() for m in models.values()), reverse=True)
    return {"registered": sum(sizes), "largest": sizes[0] if sizes else 0, "models": len(sizes)}


def run(database: Path, images: Path, count: int, variant: str, log: Path) -> dict:
    """One mapping in its own process; its CPU seconds (every thread) are its own."""
    argv = [sys.executable, __file__, "--child", str(count), variant,
            "--database", str(database), "--images", str(images)]  # fmt: skip
    started = time.perf_counter()
    with log.open("w") as out:
        child = subprocess.run(argv, stdout=subprocess.PIPE, stderr=out, text=True, check=False)
    result = json.loads(child.stdout.strip().splitlines()[-1]) if child.returncode == 0 else {}
    return {
        "photos": count,
        "variant": variant,
        "wall_s": round(time.perf_counter() - started, 1),
        **result,
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "ok": child.returncode == 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", type=Path, required=True)
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--sizes", default="50,100,200,400")
    parser.add_argument("--variants", default="default,bounded,global")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", nargs=2, metavar=("N", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        count, variant = int(args.child[0]), args.child[1]
        result = map_child(args.database, args.images, count, variant)
        usage = os.times()  # this process, every thread
        result["cpu_s"] = round(usage.user + usage.system, 1)
        print(json.dumps(result))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    variants = args.variants.split(",")
    logs = Path(tempfile.mkdtemp(prefix="bench-mapping-"))
    results = []
    for variant in variants:
        for count in sizes:
            r = run(args.database, args.images, count, variant, logs / f"{variant}-{count}.log")
            results.append(r)
            print(json.dumps(r), flush=True)
    for variant in variants:
        done = [r for r in results if r["variant"] == variant and r["ok"]]
        if len(done) >= 2:
            b = np.polyfit(np.log([r["photos"] for r in done]),
                           np.log([r["cpu_s"] for r in done]), 1)[0]  # fmt: skip
            print(f"{variant}: mapping CPU time ~ N^{b:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
