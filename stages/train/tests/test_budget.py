"""The time budget: what the plan chooses, that explicit settings win, and the deadline holds."""

from __future__ import annotations

import pytest
import torch

from spaceport_shared.entrypoint import execute_stage
from spaceport_shared.metrics import parse_metric_line
from spaceport_shared.settings import parse_settings
from spaceport_train import trainer
from spaceport_train.budget import (
    GSPLAT_DEFAULTS,
    CostModel,
    load_cost_model,
    plan,
    with_defaults,
    working_size,
)
from spaceport_train.cli import SPEC
from spaceport_train.scene_data import load_scene
from spaceport_train.settings import TrainSettings
from spaceport_train.trainer import train

COST = CostModel(base_s=0.02, per_megapixel_s=2.0, per_million_gaussians_s=1.0)
DRONE = (4000, 3000)  # photo size


def _plan(backend: str = "cpu", size=DRONE, **values: str):
    return plan(parse_settings(TrainSettings, values), backend, size, 5000, COST)


def test_without_budget_unset_settings_take_gsplat_defaults():
    chosen = _plan(steps="123")
    assert chosen.settings.steps == 123  # given: kept
    for name, value in GSPLAT_DEFAULTS.items():
        if name != "steps":
            assert getattr(chosen.settings, name) == value, name
    assert chosen.deadline_s is None and "steps" not in chosen.chosen


def test_gpu_keeps_defaults_and_only_gets_a_deadline():
    chosen = _plan("cuda", time_budget_min="30")
    assert chosen.settings.steps == 7000 and chosen.settings.max_image_size == 1600
    assert 0 < chosen.deadline_s < 30 * 60


@pytest.mark.parametrize("minutes", [5, 30, 120])
def test_cpu_plan_fits_the_budget_by_the_cost_model(minutes):
    chosen = _plan(time_budget_min=str(minutes))
    s = chosen.settings
    assert s.steps >= 2000
    w, h = working_size(*DRONE, s.max_image_size)
    assert chosen.estimated_train_s <= chosen.deadline_s < minutes * 60
    assert chosen.estimated_train_s > 0.6 * chosen.deadline_s  # and uses most of it
    assert s.refine_start < s.refine_stop <= s.steps
    assert 20_000 <= s.max_gaussians <= 1_000_000
    assert f"{w}x{h}" in chosen.reason


def test_more_budget_buys_more_pixels():
    sizes = [_plan(time_budget_min=str(m)).settings.max_image_size for m in (5, 30, 120)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


def test_explicit_settings_win_and_are_planned_around():
    chosen = _plan(time_budget_min="30", max_image_size="320", sh_degree="2")
    assert chosen.settings.max_image_size == 320 and chosen.settings.sh_degree == 2
    assert "max_image_size" not in chosen.chosen and "steps" in chosen.chosen
    small = _plan(time_budget_min="30", steps="100")
    assert small.settings.steps == 100  # given, even though far more would fit


def test_the_committed_cost_model_is_sane():
    cost = load_cost_model()
    assert cost.measured
    step = cost.step_seconds(320 * 240, 50_000)
    assert 0.01 < step < 5.0


def test_deadline_ends_the_loop_at_a_step_boundary(synth_model, tmp_path, capsys):
    """A fake clock, one second per reading: the loop stops once it reads 20 s or more."""
    scene = load_scene(synth_model, max_image_size=48, test_every=8)
    settings = with_defaults(
        parse_settings(TrainSettings, {"steps": "1000", "log_interval": "1", "sh_degree": "0"})
    )
    ticks = iter(range(10_000))
    state = train(
        settings, scene, tmp_path, "cpu", torch.device("cpu"), deadline_s=20.0,
        clock=lambda: float(next(ticks)),
    )  # fmt: skip
    assert 0 < state.step < 20 and state.ended_early_at == state.step
    lines = [line for line in capsys.readouterr().out.splitlines() if "loss=" in line]
    assert len(lines) == state.step
    last = parse_metric_line(lines[-1])
    assert 0 < last["progress"] < 1 and 0 <= last["eta_s"] <= 20  # by the clock, not the steps


def test_budget_ends_the_stage_with_evaluation_and_export(synth_model, tmp_path):
    settings = parse_settings(
        TrainSettings, {"time_budget_min": "0.2", "steps": "100000", "max_image_size": "48"}
    )
    out = tmp_path / "out"
    report = execute_stage(
        SPEC, settings, synth_model, out, checkpoint_dir=tmp_path / "c", extras_dir=None
    )
    assert report.metrics["steps"] < 100_000
    assert any("time budget ended training" in w for w in report.warnings)
    assert report.details["plan"]["time_budget_min"] == 0.2
    assert (out / "scene.ply").is_file() and report.metrics["psnr"] > 5


def test_first_metric_line_comes_early_then_every_log_every_s(synth_model, tmp_path, capsys,
                                                               monkeypatch):  # fmt: skip
    """With `log_interval` out of reach, lines come from the clock alone: the first as soon as
    FIRST_LOG_S has passed (here 0: after step 1), then only every LOG_EVERY_S (here never)."""
    monkeypatch.setattr(trainer, "FIRST_LOG_S", 0.0)
    monkeypatch.setattr(trainer, "LOG_EVERY_S", 1e9)
    scene = load_scene(synth_model, max_image_size=48, test_every=8)
    settings = with_defaults(
        parse_settings(TrainSettings, {"steps": "6", "log_interval": "1000", "sh_degree": "0"})
    )
    train(settings, scene, tmp_path, "cpu", torch.device("cpu"))
    lines = [line for line in capsys.readouterr().out.splitlines() if "loss=" in line]
    steps = [parse_metric_line(line)["step"] for line in lines]
    assert steps == [1, 6]  # the early one with its ETA, and the last step's
    assert parse_metric_line(lines[0])["eta_s"] >= 0


@pytest.mark.parametrize(("steps", "degree"), [(2999, 0), (3000, 1), (6000, 2), (30_000, 2)])
def test_planned_sh_degree_follows_the_measured_ab(steps, degree):
    # README "Quality": SH >= 1 gained ~0.5 dB held out on both flights; 3 gained nothing over 2
    # and costs ~20 % more per step, so long budgets stop at 2.
    big = CostModel(base_s=1e-4, per_megapixel_s=0.0, per_million_gaussians_s=0.0)
    chosen = plan(
        parse_settings(TrainSettings, {"time_budget_min": "600", "steps": str(steps)}),
        "cpu",
        DRONE,
        5000,
        big,
    )
    assert chosen.settings.sh_degree == degree
