"""The expected time and cost of each stage before a run (`spaceport run --estimate`, the
`/start-job` API's `dry_run`), from the stages' measured curves.

Pure Python (the start-job Lambda imports it). The curves are figures, not code of the stages
(the orchestration never imports a stage): SfM and CPU training from the cost models the benches
fit (`spaceport_shared.cost_model`: SfM's CPU seconds ~ N^b over 50-400 photos of the `large`
survey; the one the train stage plans its budget with), GPU training and compression from the
figures their READMEs state.
Cores scale a stage by Amdahl's law with the parallel share stated per curve. Prices are
SageMaker on-demand list prices (us-east-1) of the instance types the pipeline uses; check the
AWS price page before quoting them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from spaceport_orchestration.stages import GPU_INSTANCE_PREFIXES, PIPELINE
from spaceport_shared.cost_model import (
    load_sfm_cost_model,
    load_train_cost_model,
    sfm_cpu_seconds,
    train_step_seconds,
)

# SfM's CPU seconds (`spaceport_shared.cost_model.sfm_cpu_seconds`, refit by `make bench-large`),
# then Amdahl over the cores; working images <= 1600 px (the bench's 640 px photos are upsampled
# 2x for SIFT, so their extraction costs about what a 1600 px photo's does)
SFM = {**load_sfm_cost_model(), "cpus": 1, "parallel_share": 0.8}
TRAIN_CPU = {**load_train_cost_model(), "cpus": 2, "parallel_share": 0.9}  # seconds a step
TRAIN_GPU = {
    "steps_per_s": 10.0,  # gsplat on a T4 at 1600 px and ~1M Gaussians: about 12 min per 7000
    "load_s_per_photo": 0.2,
    "measured": "not measured here: gsplat's published speeds scaled to a T4",
}
COMPRESS = {  # stages/compress/README.md: 1.23M splats in 183 s, 528k in 92 s on 2 cores
    "base_s": 15.0,
    "per_million_s": 135.0,
    "cpus": 2,
    "parallel_share": 0.7,
}
GSPLAT_STEPS = 7000
GSPLAT_MAX_GAUSSIANS = 1_000_000
MAX_WORKING_SIDE = 1600  # both SfM and training's default working size
POINTS_PER_PHOTO = 400  # SfM points a survey photo adds (the large survey: ~380)
ASSUMED_MEGAPIXELS = 12.0  # a survey drone's photo, when the photos' size is not known


@dataclass(frozen=True)
class Hardware:
    name: str  # a SageMaker instance type, or "this machine"
    cpus: int
    gpu: bool
    usd_per_hour: float | None = None  # None: not billed


# SageMaker on-demand, us-east-1, USD per hour (processing and training jobs alike)
INSTANCES: dict[str, Hardware] = {
    h.name: h
    for h in (
        Hardware("ml.c5.xlarge", 4, False, 0.204),
        Hardware("ml.m5.xlarge", 4, False, 0.23),
        Hardware("ml.m5.2xlarge", 8, False, 0.461),
        Hardware("ml.c6i.2xlarge", 8, False, 0.408),
        Hardware("ml.c6i.4xlarge", 16, False, 0.816),
        Hardware("ml.g4dn.xlarge", 4, True, 0.736),
        Hardware("ml.g5.2xlarge", 8, True, 1.515),
    )
}


@dataclass(frozen=True)
class StageEstimate:
    stage: str
    hardware: str
    seconds: float
    usd: float | None
    basis: str

    def to_dict(self) -> dict:
        return asdict(self)


def _amdahl(seconds: float, curve: Mapping, cpus: int) -> float:
    """`seconds` measured on curve["cpus"] cores, on `cpus` cores instead."""
    p = curve["parallel_share"]
    return seconds * ((1 - p) + p * curve["cpus"] / max(1, cpus)) / ((1 - p) + p)


def working_pixels(megapixels: float) -> float:
    """Pixels of a working image: 4:3 photos shrunk to a 1600 px long side, never enlarged."""
    long_side = math.sqrt(megapixels * 1e6 * 4 / 3)
    return megapixels * 1e6 * min(1.0, MAX_WORKING_SIDE / long_side) ** 2


def sfm_seconds(photos: int, hardware: Hardware) -> float:
    return _amdahl(sfm_cpu_seconds(SFM, photos), SFM, hardware.cpus)


def train_seconds(
    photos: int, megapixels: float, hardware: Hardware, settings: Mapping[str, str]
) -> tuple[float, str]:
    steps = int(settings.get("steps", GSPLAT_STEPS))
    if hardware.gpu:
        seconds = steps / TRAIN_GPU["steps_per_s"] + TRAIN_GPU["load_s_per_photo"] * photos
        basis = f"{steps} steps at {TRAIN_GPU['steps_per_s']:g} a second ({TRAIN_GPU['measured']})"
    else:
        cap = int(settings.get("max_gaussians", GSPLAT_MAX_GAUSSIANS))
        mean = 0.5 * (min(cap, POINTS_PER_PHOTO * photos) + cap)
        step = train_step_seconds(TRAIN_CPU, working_pixels(megapixels), mean)
        seconds = _amdahl(steps * step, TRAIN_CPU, hardware.cpus)
        basis = f"{steps} steps by the train stage's CPU cost model"
    budget = settings.get("time_budget_min")
    if budget and float(budget) * 60 < seconds:
        return float(budget) * 60, f"the time budget ({float(budget):g} min) ends it"
    return seconds, basis


def compress_seconds(gaussians: float, hardware: Hardware) -> float:
    seconds = COMPRESS["base_s"] + COMPRESS["per_million_s"] * gaussians / 1e6
    return _amdahl(seconds, COMPRESS, hardware.cpus)


def estimate(
    photos: int,
    hardware: Mapping[str, Hardware],  # stage -> where it runs
    settings: Mapping[str, Mapping[str, str]] | None = None,  # stage -> its settings
    megapixels: float = ASSUMED_MEGAPIXELS,
) -> list[StageEstimate]:
    """Each stage's expected time (and cost, where billed) for `photos` photos."""
    settings = settings or {}
    train_settings = settings.get("train", {})
    rows = []

    def row(stage: str, seconds: float, basis: str) -> None:
        where = hardware[stage]
        usd = None if where.usd_per_hour is None else seconds / 3600 * where.usd_per_hour
        rows.append(StageEstimate(stage, where.name, round(seconds, 1), usd, basis))

    row("sfm", sfm_seconds(photos, hardware["sfm"]), f"{photos} photos ~ N^{SFM['exponent']:g}")
    seconds, basis = train_seconds(photos, megapixels, hardware["train"], train_settings)
    row("train", seconds, basis)
    gaussians = int(train_settings.get("max_gaussians", GSPLAT_MAX_GAUSSIANS))
    row("compress", compress_seconds(gaussians, hardware["compress"]), f"{gaussians} splats")
    return rows


def format_estimate(rows: list[StageEstimate]) -> list[str]:
    lines = [f"{'stage':<9} {'hardware':<16} {'minutes':>8} {'USD':>7}  basis"]
    for r in rows:
        usd = "-" if r.usd is None else f"{r.usd:.2f}"
        lines.append(f"{r.stage:<9} {r.hardware:<16} {r.seconds / 60:>8.1f} {usd:>7}  {r.basis}")
    total_s = sum(r.seconds for r in rows)
    billed = [r.usd for r in rows if r.usd is not None]
    total_usd = f"{sum(billed):.2f}" if billed else "-"
    lines.append(f"{'total':<9} {'':<16} {total_s / 60:>8.1f} {total_usd:>7}")
    return lines


# what the estimate counts as a photo (videos and archives are counted after unpacking only)
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".heic", ".heif", ".dng")


def is_photo(name: str) -> bool:
    return name.lower().endswith(PHOTO_SUFFIXES)


def count_photos(names: list[str]) -> int:
    return sum(1 for name in names if is_photo(name))


def cloud_hardware() -> dict[str, Hardware]:
    """Each stage's SageMaker instance type (`stages.PIPELINE`) with its price."""
    found = {}
    for stage in PIPELINE:
        gpu = stage.instance_type.startswith(GPU_INSTANCE_PREFIXES)
        unknown = Hardware(stage.instance_type, 4, gpu, None)  # not in the price list
        found[stage.name] = INSTANCES.get(stage.instance_type, unknown)
    return found


def local_hardware(cpus: int, gpu: bool) -> dict[str, Hardware]:
    here = Hardware("this machine", cpus, gpu)
    return {"sfm": here, "train": here, "compress": here}
