"""The CPU training cost model: seconds a step as a function of pixels and Gaussians.

Written once here because two packages read it: the train stage plans a time budget with it
(`spaceport_train.budget`) and the orchestration's estimate prices a run with it (`estimate.py`,
pure Python in the start-job Lambda, which never imports a stage). `make bench` refits it on the
machine class (`stages/train/bench/bench_train.py --fit-cost-model`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

TRAIN_COST_MODEL_NAME = "train_cost_model.json"
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


def train_cost_model_path() -> Path:
    return Path(str(resources.files("spaceport_shared").joinpath(TRAIN_COST_MODEL_NAME)))


def load_train_cost_model() -> dict[str, float | str]:
    """The fitted terms (a missing one is 0) and `measured`, how and where they were fitted."""
    values = json.loads(train_cost_model_path().read_text())
    return {
        **{term: float(values.get(term, 0.0)) for term in TRAIN_COST_TERMS},
        "measured": str(values.get("measured", "")),
    }
