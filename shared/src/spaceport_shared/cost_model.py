"""The stages' measured cost models: CPU training's seconds a step as a function of pixels and
Gaussians, and SfM's CPU seconds as a function of the number of photos.

Written once here because two packages read each: the train stage plans a time budget with its
model (`spaceport_train.budget`) and the orchestration's estimate prices a run with both
(`estimate.py`, pure Python in the start-job Lambda, which never imports a stage). The benches
refit them on the machine class: `make bench` the training one
(`stages/train/bench/bench_train.py --fit-cost-model`), `make bench-large` the SfM one
(`stages/sfm/bench/bench_large.py --fit-cost-model`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

TRAIN_COST_MODEL_NAME = "train_cost_model.json"
SFM_COST_MODEL_NAME = "sfm_cost_model.json"
SFM_COST_TERMS = ("at_100_s", "exponent")
TRAIN_COST_TERMS = (
    "base_s",
    "per_megapixel_s",
    "per_million_gaussians_s",
    "per_megapixel_million_s",
)


def train_step_seconds(model: Mapping[str, float | str], pixels: float, gaussians: float) -> float:
    """base + a MP + b M + c MP M (MP megapixels, M millions of Gaussians; the product term: more
    pixels and more Gaussians both grow the per-tile lists the kernels walk)."""
    mp, m = pixels / 1e6, gaussians / 1e6
    a, b, c, d = (float(model[term]) for term in TRAIN_COST_TERMS)
    return a + b * mp + c * m + d * mp * m


def sfm_cpu_seconds(model: Mapping[str, float | str], photos: int) -> float:
    """CPU seconds of the whole SfM stage: at_100_s (photos / 100) ** exponent, the least-squares
    fit in log-log of `bench_large.py`'s subsets (50-400 photos, working images <= 1600 px)."""
    return float(model["at_100_s"]) * (photos / 100) ** float(model["exponent"])


def _path(name: str) -> Path:
    return Path(str(resources.files("spaceport_shared").joinpath(name)))


def train_cost_model_path() -> Path:
    return _path(TRAIN_COST_MODEL_NAME)


def sfm_cost_model_path() -> Path:
    return _path(SFM_COST_MODEL_NAME)


def _load(path: Path, terms: tuple[str, ...]) -> dict[str, float | str]:
    """The fitted terms (a missing one is 0) and `measured`, how and where they were fitted."""
    values = json.loads(path.read_text())
    return {
        **{term: float(values.get(term, 0.0)) for term in terms},
        "measured": str(values.get("measured", "")),
    }


def load_train_cost_model() -> dict[str, float | str]:
    return _load(train_cost_model_path(), TRAIN_COST_TERMS)


def load_sfm_cost_model() -> dict[str, float | str]:
    return _load(sfm_cost_model_path(), SFM_COST_TERMS)
