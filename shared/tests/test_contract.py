"""The SageMaker container contract, exercised through a fake stage run as a subprocess."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from spaceport_shared.contract import (
    ProcessingPaths,
    TrainingPaths,
    atomic_output,
    is_complete,
    ml_root,
    read_hyperparameters,
    write_failure,
)
from spaceport_shared.errors import SpaceportError
from spaceport_shared.report import read_report

FAKE = Path(__file__).with_name("fake_stage.py")


def run_fake(kind, *args, root=None, timeout=60):
    env = dict(os.environ)
    env.pop("SPACEPORT_ML_ROOT", None)
    if root is not None:
        env["SPACEPORT_ML_ROOT"] = str(root)
    return subprocess.run(
        [sys.executable, str(FAKE), kind, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


@pytest.fixture
def processing_root(tmp_path):
    root = tmp_path / "ml"
    inp = ProcessingPaths(root).input()
    inp.mkdir(parents=True)
    (inp / "a.txt").write_text("hello")
    return root


@pytest.fixture
def training_root(tmp_path):
    root = tmp_path / "ml"
    paths = TrainingPaths(root)
    paths.channel().mkdir(parents=True)
    (paths.channel() / "a.txt").write_text("hello")
    paths.model_dir.mkdir(parents=True)  # SageMaker creates it before the container starts
    return root


def test_ml_root_moves_with_env_and_override(monkeypatch, tmp_path):
    monkeypatch.delenv("SPACEPORT_ML_ROOT", raising=False)
    assert ml_root() == Path("/opt/ml")
    monkeypatch.setenv("SPACEPORT_ML_ROOT", str(tmp_path))
    assert ml_root() == tmp_path
    assert ml_root(tmp_path / "x") == tmp_path / "x"


def test_contract_paths():
    p = ProcessingPaths(Path("/opt/ml"))
    assert p.input() == Path("/opt/ml/processing/input")
    assert p.output() == Path("/opt/ml/processing/output")
    assert p.failure_file == Path("/opt/ml/output/message")
    t = TrainingPaths(Path("/opt/ml"))
    assert t.channel("training") == Path("/opt/ml/input/data/training")
    assert t.hyperparameters_file == Path("/opt/ml/input/config/hyperparameters.json")
    assert t.model_dir == Path("/opt/ml/model")
    assert t.output_data_dir == Path("/opt/ml/output/data")
    assert t.checkpoints_dir == Path("/opt/ml/checkpoints")
    assert t.failure_file == Path("/opt/ml/output/failure")


def test_processing_container_mode_writes_output_and_report(processing_root):
    result = run_fake("processing", "--set", "copies=2", "--set", "scale=0.5", root=processing_root)
    assert result.returncode == 0, result.stderr
    out = ProcessingPaths(processing_root).output()
    assert (out / "copy0.txt").read_text() == "hello"
    assert (out / "copy1.txt").read_text() == "hello"
    report = json.loads((out / "report.json").read_text())
    assert list(report)[:7] == [
        "stage",
        "version",
        "inputs",
        "outputs",
        "metrics",
        "timings_s",
        "warnings",
    ]
    assert report["metrics"] == {"copies": 2, "scale": 0.5}
    assert {"path": "copy1.txt", "bytes": 5} in report["outputs"]
    assert report["inputs"] == [{"path": "a.txt", "bytes": 5}]
    assert "write" in report["timings_s"] and "total" in report["timings_s"]
    assert not ProcessingPaths(processing_root).failure_file.exists()


def test_ml_root_flag_overrides_env(processing_root, tmp_path):
    result = run_fake("processing", "--ml-root", str(processing_root), root=tmp_path / "nowhere")
    assert result.returncode == 0, result.stderr
    assert is_complete(ProcessingPaths(processing_root).output())


def test_training_container_mode_types_string_hyperparameters(training_root):
    paths = TrainingPaths(training_root)
    paths.hyperparameters_file.parent.mkdir(parents=True)
    paths.hyperparameters_file.write_text(json.dumps({"copies": "3", "verbose": "true"}))
    result = run_fake("training", "train", root=training_root)
    assert result.returncode == 0, result.stderr
    report = read_report(paths.model_dir)
    assert report.metrics["copies"] == 3
    assert report.details["settings"] == {"mode": "ok", "copies": 3, "scale": 1.0, "verbose": True}
    assert (paths.checkpoints_dir / "checkpoint_dir.txt").exists()
    assert (paths.output_data_dir / "extras_dir.txt").exists()


@pytest.mark.parametrize(
    ("hyper", "needle"),
    [({"copeis": "3"}, "Unknown setting 'copeis'"), ({"copies": "9"}, "at most 5")],
)
def test_bad_hyperparameter_fails_with_a_named_reason(training_root, hyper, needle):
    paths = TrainingPaths(training_root)
    paths.hyperparameters_file.parent.mkdir(parents=True)
    paths.hyperparameters_file.write_text(json.dumps(hyper))
    result = run_fake("training", "train", root=training_root)
    assert result.returncode != 0
    assert needle in paths.failure_file.read_text()
    assert needle in result.stderr
    assert list(paths.model_dir.iterdir()) == []


def test_user_error_writes_failure_and_leaves_no_output(processing_root):
    result = run_fake("processing", "--set", "mode=user_error", root=processing_root)
    assert result.returncode == 1
    message = ProcessingPaths(processing_root).failure_file.read_text()
    assert message == "The input has no usable photos; add JPEG files and run again."
    assert "Traceback" not in result.stderr
    out = ProcessingPaths(processing_root).output()
    assert not out.exists() or list(out.iterdir()) == []


def test_crash_keeps_traceback_in_log_and_short_reason_in_failure_file(training_root):
    paths = TrainingPaths(training_root)
    result = run_fake("training", "train", "--set", "mode=crash", root=training_root)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "RuntimeError: boom" in result.stderr
    assert paths.failure_file.read_text().startswith("Internal error in the fake stage")
    assert list(paths.model_dir.iterdir()) == []


def test_failure_text_is_cut_to_sagemakers_1kb(tmp_path):
    write_failure(tmp_path / "f", "é" * 2000)
    data = (tmp_path / "f").read_bytes()
    assert len(data) <= 1024 and data.decode("utf-8") == "é" * 512


def _start_hanging(kind, *args, root=None):
    env = dict(os.environ)
    if root is not None:
        env["SPACEPORT_ML_ROOT"] = str(root)
    proc = subprocess.Popen(
        [sys.executable, str(FAKE), kind, *args, "--set", "mode=hang"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout.readline().strip() == "partial written"
    return proc


def test_killed_local_run_leaves_no_output_folder_and_rerun_completes(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("x")
    out = tmp_path / "out"
    proc = _start_hanging("processing", "--input", str(tmp_path / "in"), "--output", str(out))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not out.exists()
    result = run_fake("processing", "--input", str(tmp_path / "in"), "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["copy0.txt", "report.json"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_sigterm_stops_cleanly_with_a_reason(training_root):
    paths = TrainingPaths(training_root)
    proc = _start_hanging("training", "train", root=training_root)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode == 1
    assert "stopped (SIGTERM)" in paths.failure_file.read_text()
    assert list(paths.model_dir.iterdir()) == []


def test_local_mode_requires_output(tmp_path):
    result = run_fake("processing", "--input", str(tmp_path))
    assert result.returncode == 1 and "--output is required" in result.stderr


def test_missing_input_is_a_clear_error(tmp_path):
    result = run_fake(
        "processing", "--input", str(tmp_path / "nope"), "--output", str(tmp_path / "o")
    )
    assert result.returncode == 1
    assert "does not exist" in result.stderr
    assert not (tmp_path / "o").exists()


def test_atomic_output_replaces_existing_folder_only_on_success(tmp_path):
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    (dest / "report.json").write_text("{}")
    with pytest.raises(RuntimeError), atomic_output(dest) as work:
        (work / "new.txt").write_text("new")
        raise RuntimeError("fail")
    assert sorted(p.name for p in dest.iterdir()) == ["old.txt", "report.json"]
    with atomic_output(dest) as work:
        assert work.parent == dest and list(work.iterdir()) == []
        (work / "new.txt").write_text("new")
        (work / "report.json").write_text('{"new": 1}')
    assert sorted(p.name for p in dest.iterdir()) == ["new.txt", "report.json"]
    assert is_complete(dest)


def test_atomic_output_refuses_a_file_destination(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(SpaceportError, match="is a file"), atomic_output(tmp_path / "f"):
        pass


def test_hyperparameters_file(tmp_path):
    assert read_hyperparameters(tmp_path / "missing.json") == {}
    (tmp_path / "h.json").write_text('{"steps": "10", "n": 3}')
    assert read_hyperparameters(tmp_path / "h.json") == {"steps": "10", "n": "3"}
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(SpaceportError, match="not valid JSON"):
        read_hyperparameters(tmp_path / "bad.json")
