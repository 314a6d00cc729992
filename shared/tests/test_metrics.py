import io
import re

import pytest

from spaceport_shared.metrics import (
    ETA,
    PROGRESS,
    log_metrics,
    metric_definitions,
    metric_regex,
    parse_metric_line,
    progress_metrics,
)


def test_line_format_and_sagemaker_regex_read_each_value():
    out = io.StringIO()
    line = log_metrics(out, step=1200, loss=0.0412, psnr=24.31, gaussians=183224)
    assert out.getvalue() == line + "\n"
    assert line == "metric step=1200 loss=0.0412 psnr=24.31 gaussians=183224"
    logged = "2026-11-27 INFO something\n" + line + "\n"
    for name, expected in [("step", 1200), ("loss", 0.0412), ("psnr", 24.31)]:
        match = re.search(metric_regex(name), logged)
        assert match and float(match.group(1)) == pytest.approx(expected)


def test_regex_does_not_confuse_names_sharing_a_suffix():
    line = "metric train_loss=0.5 loss=0.25"
    assert float(re.search(metric_regex("loss"), line).group(1)) == 0.25


def test_definitions_fit_sagemaker_limits():
    defs = metric_definitions(["loss", "psnr"])
    assert [d["Name"] for d in defs] == ["loss", "psnr"]
    assert all(1 <= len(d["Regex"]) <= 500 for d in defs)


def test_parse_line_round_trip_and_rejects_other_lines():
    assert parse_metric_line("metric step=3 loss=0.5") == {"step": 3.0, "loss": 0.5}
    assert parse_metric_line("INFO metric step=3") is None
    assert parse_metric_line("metric step") is None


def test_bad_name_is_refused():
    with pytest.raises(ValueError):
        log_metrics(io.StringIO(), **{"held-out psnr": 1.0})


def test_progress_metrics_ride_on_metric_lines():
    line = log_metrics(io.StringIO(), step=10, **progress_metrics(0.25, 61.4))
    assert line == "metric step=10 progress=0.25 eta_s=61"
    assert float(re.search(metric_regex(PROGRESS), line).group(1)) == 0.25
    assert float(re.search(metric_regex(ETA), line).group(1)) == 61
    assert progress_metrics(1.5, float("nan")) == {PROGRESS: 1.0}  # no ETA before a timed step
