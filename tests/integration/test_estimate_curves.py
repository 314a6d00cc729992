"""The orchestration's estimate (pure Python, no stage imported) carries the train stage's CPU
cost model as figures: they must be the ones the train stage plans with."""

import json
from importlib import resources

from spaceport_orchestration.estimate import TRAIN_CPU


def test_the_estimate_uses_the_train_stage_s_cost_model():
    text = resources.files("spaceport_train").joinpath("cost_model.json").read_text()
    model = json.loads(text)
    for key in ("base_s", "per_megapixel_s", "per_million_gaussians_s", "per_megapixel_million_s"):
        assert TRAIN_CPU[key] == model.get(key, 0.0), key
