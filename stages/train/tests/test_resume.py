"""Resume is exact: the saved state round-trips; a stopped-then-resumed run is the straight one."""

from __future__ import annotations

import io

import pytest
import torch

from spaceport_shared.settings import parse_settings
from spaceport_train.budget import with_defaults
from spaceport_train.scene_data import load_scene
from spaceport_train.settings import TrainSettings
from spaceport_train.trainer import (
    TrainingStoppedError,
    build_state,
    state_dict,
    train,
    train_step,
)

CPU = torch.device("cpu")
SETTINGS = {
    "steps": "60",
    "max_image_size": "64",
    "sh_degree": "1",
    "sh_degree_interval": "10",
    "refine_start": "20",
    "refine_every": "20",
    "random_background": "true",
    "checkpoint_interval": "1000",
    "log_interval": "20",
}


@pytest.fixture(scope="module")
def scene(synth_model):
    return load_scene(synth_model, max_image_size=64, test_every=8)


def _settings(**overrides: str) -> TrainSettings:
    return with_defaults(parse_settings(TrainSettings, {**SETTINGS, **overrides}))


def _assert_same_tensors(a: dict, b: dict, what: str) -> None:
    assert a.keys() == b.keys(), what
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, torch.Tensor):
            torch.testing.assert_close(x, y, rtol=0, atol=0, msg=f"{what}[{key}]")
        elif isinstance(x, dict):
            _assert_same_tensors(x, y, f"{what}[{key}]")
        else:
            assert x == y, f"{what}[{key}]"


def test_state_round_trip_restores_everything(scene):
    settings = _settings()
    state = build_state(settings, scene, CPU)
    for _ in range(23):  # past a densification, so Adam moments and accumulators were edited
        train_step(state, scene, settings, "cpu", CPU)
    buffer = io.BytesIO()
    torch.save(state_dict(state, settings, scene), buffer)
    saved = torch.load(io.BytesIO(buffer.getvalue()), weights_only=False)
    after_save = torch.rand(4)  # the global RNG moved on after the save ...
    restored = build_state(settings, scene, CPU, saved)
    assert torch.equal(torch.rand(4), after_save)  # ... and restoring puts it back

    assert restored.step == state.step == 23 and restored.resumed_from == 23
    _assert_same_tensors(dict(restored.splats), dict(state.splats), "splats")
    for name, opt in state.optimizers.items():
        mine, theirs = opt.state_dict(), restored.optimizers[name].state_dict()
        assert mine["param_groups"] == theirs["param_groups"], name  # LR after the decay
        _assert_same_tensors(mine["state"][0], theirs["state"][0], f"adam[{name}]")
        assert float(mine["state"][0]["exp_avg_sq"].abs().sum()) > 0, name
    assert restored.scheduler.state_dict() == state.scheduler.state_dict()
    assert restored.scheduler.get_last_lr() == state.scheduler.get_last_lr()
    _assert_same_tensors(restored.strategy_state, state.strategy_state, "strategy_state")
    assert float(state.strategy_state["count"].sum()) > 0
    # The restored state trains on exactly as the original does.
    torch.manual_seed(0)
    train_step(state, scene, settings, "cpu", CPU)
    torch.manual_seed(0)
    train_step(restored, scene, settings, "cpu", CPU)
    _assert_same_tensors(dict(restored.splats), dict(state.splats), "splats after a step")


def test_stopped_then_resumed_run_equals_the_straight_run(scene, tmp_path):
    settings = _settings()
    straight = train(settings, scene, tmp_path / "straight", "cpu", CPU)

    calls = 0

    def stop_at_step_30() -> bool:  # asked once before every step
        nonlocal calls
        calls += 1
        return calls == 31

    with pytest.raises(TrainingStoppedError) as stopped:
        train(settings, scene, tmp_path / "resumed", "cpu", CPU, stop_at_step_30)
    assert stopped.value.step == 30
    torch.rand(100)  # whatever the process does in between must not matter
    resumed = train(settings, scene, tmp_path / "resumed", "cpu", CPU)

    assert resumed.resumed_from == 30 and resumed.step == straight.step == 60
    # Densified at 20 (before the stop) and at 40 (after it): the counts must agree exactly.
    assert len(resumed.splats["means"]) == len(straight.splats["means"])
    assert len(straight.splats["means"]) != len(scene.points)
    for name, value in straight.splats.items():
        torch.testing.assert_close(resumed.splats[name], value, rtol=1e-6, atol=1e-7, msg=name)
    assert [s for s, _ in resumed.history] == list(range(1, 61))
    losses = [loss for _, loss in straight.history]
    assert [loss for _, loss in resumed.history] == pytest.approx(losses, rel=1e-6)
