"""`spaceport run --estimate`: each stage's expected time and cost from the measured curves."""

from __future__ import annotations

import pytest
from PIL import Image

from spaceport_orchestration import estimate as est
from spaceport_orchestration.cli import main

LOCAL = est.local_hardware(2, gpu=False)


def test_sfm_time_follows_the_fitted_curve_and_the_cores():
    cores = est.SFM["cpus"]
    here = est.Hardware("here", cores, False)
    t100, t400 = est.sfm_seconds(100, here), est.sfm_seconds(400, here)
    assert t100 == pytest.approx(est.SFM["at_100_s"])
    assert t400 / t100 == pytest.approx(4 ** est.SFM["exponent"])
    wide = est.sfm_seconds(400, est.Hardware("wide", 8 * cores, False))
    p = est.SFM["parallel_share"]
    assert wide / t400 == pytest.approx((1 - p) + p / 8)


def test_cpu_training_uses_the_cost_model_and_a_budget_ends_it():
    [_, train, _] = est.estimate(400, LOCAL, {"train": {"steps": "100"}}, megapixels=12.0)
    mp = est.working_pixels(12.0) / 1e6  # 1600 x 1200
    assert mp == pytest.approx(1.92, rel=1e-3)
    cap = est.GSPLAT_MAX_GAUSSIANS / 1e6
    mean = 0.5 * (min(cap, est.POINTS_PER_PHOTO * 400 / 1e6) + cap)
    cpu = est.TRAIN_CPU
    terms = [cpu[k] for k in ("base_s", "per_megapixel_s", "per_million_gaussians_s")]
    step = terms[0] + terms[1] * mp + terms[2] * mean + cpu["per_megapixel_million_s"] * mp * mean
    assert train.seconds == pytest.approx(100 * step, rel=1e-3)
    [_, budgeted, _] = est.estimate(400, LOCAL, {"train": {"time_budget_min": "30"}})
    assert budgeted.seconds == 1800 and "budget" in budgeted.basis


def test_cloud_rows_are_priced_by_the_instance_hour():
    rows = est.estimate(200, est.cloud_hardware())
    for row in rows:
        hourly = est.INSTANCES[row.hardware].usd_per_hour
        assert row.usd == pytest.approx(row.seconds / 3600 * hourly, rel=1e-3)
    assert rows[1].hardware == "ml.g4dn.xlarge"
    assert all(r.usd is None for r in est.estimate(200, LOCAL))


def test_run_estimate_prints_every_stage_and_runs_nothing(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(5):
        Image.new("RGB", (800, 600)).save(photos / f"IMG_{i}.jpg")
    assert main(["run", str(photos), "--estimate"]) == 0
    out = capsys.readouterr().out
    assert "5 photos of 0.5 MP" in out
    assert out.count("sfm ") == 2 and "ml.g4dn.xlarge" in out and "total" in out
    assert not (tmp_path / "out").exists()


def test_run_without_out_or_estimate_says_what_to_do(tmp_path, capsys):
    assert main(["run", str(tmp_path)]) != 0
    assert "--out" in capsys.readouterr().err


def test_estimate_of_a_folder_without_photos_names_what_it_counts(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("no photos here")
    assert main(["run", str(tmp_path), "--estimate"]) != 0
    err = capsys.readouterr().err
    assert "No photos in" in err and "heic" in err and "jpg" in err
