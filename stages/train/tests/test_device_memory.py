"""On a GPU the Gaussian cap follows the device's memory (mocked here: no GPU needed)."""

import logging

import torch

from spaceport_shared.settings import parse_settings
from spaceport_train import device_memory
from spaceport_train.budget import plan
from spaceport_train.settings import TrainSettings

GIB = 2**30
T4 = 15 * GIB  # ml.g4dn.xlarge: what mem_get_info reports of its 16 GB
DRONE = (4000, 3000)


def _plan(memory, **values):
    settings = parse_settings(TrainSettings, values)
    return plan(settings, "cuda", DRONE, 5000, device_memory=memory)


def test_the_cap_grows_with_the_device_and_shrinks_with_the_image():
    pixels = 1600 * 1200
    t4 = device_memory.gaussian_cap(T4, pixels)
    assert 3_000_000 < t4 < 4_500_000  # 2/3 of 15 GiB at ~2.5 KB a Gaussian
    assert device_memory.gaussian_cap(8 * GIB, pixels) < t4 / 1.5
    assert device_memory.gaussian_cap(T4, 4 * pixels) < t4
    assert device_memory.gaussian_cap(140 * GIB, pixels) == device_memory.MAX_CAP


def test_a_gpu_plan_takes_the_memory_cap_and_says_so():
    small, large = _plan(4 * GIB), _plan(T4)
    assert small.settings.max_gaussians < large.settings.max_gaussians
    assert small.settings.max_gaussians == device_memory.gaussian_cap(4 * GIB, 1600 * 1200)
    assert "4.0 GiB" in small.reason and str(small.settings.max_gaussians) in small.reason
    assert _plan(T4, max_gaussians="50000").settings.max_gaussians == 50000  # given: kept
    assert _plan(None).settings.max_gaussians == 1_000_000  # no figure: the default


def test_the_device_figure_comes_from_mem_get_info(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda: (3 * GIB, T4))
    assert device_memory.device_memory_bytes("cuda") == T4
    assert device_memory.device_memory_bytes("cpu") is None


def test_the_stage_logs_the_cap_for_the_mocked_device(synth_model, tmp_path, monkeypatch, caplog):
    from spaceport_train import stage

    monkeypatch.setattr(stage, "device_memory_bytes", lambda backend: 6 * GIB)
    settings = parse_settings(TrainSettings, {"steps": "2", "backend": "cpu"})
    (tmp_path / "out").mkdir()
    with caplog.at_level(logging.INFO):
        stage.run(
            settings, synth_model, tmp_path / "out", checkpoint_dir=tmp_path / "ck",
            extras_dir=tmp_path / "extras",
        )  # fmt: skip
    assert any("for the device's 6.0 GiB" in r.getMessage() for r in caplog.records)
