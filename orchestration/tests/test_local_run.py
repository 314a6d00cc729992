"""`spaceport run` with the fake stages: the contract folders, skipping, redo, failure, progress
and the summary."""

from __future__ import annotations

import io
import json

import fake_stages
import pytest
from rich.console import Console

from spaceport_orchestration import cli, local_run
from spaceport_orchestration.local_run import StageFailedError, run_local
from spaceport_orchestration.progress import RichProgress, print_summary

COMMANDS = {stage: fake_stages.command(stage) for stage in ("sfm", "train", "compress")}


class Recorder:
    def __init__(self):
        self.events = []

    def stage_pending(self, stage, note):
        self.events.append(("pending", stage, note))

    def stage_started(self, stage, total_steps):
        self.events.append(("started", stage, total_steps))

    def stage_line(self, stage, line, metrics):
        if metrics and "step" in metrics:
            self.events.append(("step", stage, int(metrics["step"])))

    def stage_done(self, stage, status, seconds):
        self.events.append(("done", stage, status))


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "photos"
    (folder / "nested").mkdir(parents=True)
    for i in range(4):
        (folder / f"IMG_{i}.JPG").write_bytes(b"jpeg")
    (folder / "nested" / "IMG_9.jpg").write_bytes(b"jpeg")
    return folder


def test_runs_the_three_stages_through_the_contract_folders(tmp_path, images):
    out = tmp_path / "out"
    view = Recorder()
    summary = run_local(
        images, out, settings={"train": {"steps": "20"}}, commands=COMMANDS, view=view
    )
    assert [r.status for r in summary.results.values()] == ["ran", "ran", "ran"]
    # the same folders a SageMaker job sees, under OUT/<stage>
    assert (out / "sfm/processing/input/nested/IMG_9.jpg").is_file()
    assert (out / "sfm/processing/output/report.json").is_file()
    assert (out / "train/input/data/training").resolve() == (
        out / "sfm/processing/output"
    ).resolve()
    assert json.loads((out / "train/input/config/hyperparameters.json").read_text()) == {
        "steps": "20"
    }
    assert (out / "train/output/data/curve.txt").is_file()
    assert summary.ply == out / "train/model/scene.ply"
    assert summary.sog == out / "compress/processing/output/scene.sog"
    assert summary.images_registered == (4, 5)
    assert summary.psnr == 27.25
    assert summary.ratio > 1
    assert ("started", "train", 20) in view.events
    assert [e[2] for e in view.events if e[0] == "step"] == [10, 20]
    assert "metric step=20" in (out / "train/log.txt").read_text()


def test_complete_stages_are_skipped_until_redo_or_new_settings(tmp_path, images):
    out = tmp_path / "out"
    run_local(images, out, commands=COMMANDS)
    ply_before = (out / "train/model/scene.ply").stat().st_mtime_ns

    again = run_local(images, out, commands=COMMANDS)
    assert [r.status for r in again.results.values()] == ["skipped"] * 3
    assert again.psnr == 27.25 and again.sog is not None  # the summary still has the figures
    assert (out / "train/model/scene.ply").stat().st_mtime_ns == ply_before

    changed = run_local(images, out, settings={"train": {"steps": "10"}}, commands=COMMANDS)
    assert [r.status for r in changed.results.values()] == ["skipped", "ran", "ran"]

    redo = run_local(images, out, settings={"train": {"steps": "10"}}, redo=True, commands=COMMANDS)
    assert [r.status for r in redo.results.values()] == ["ran"] * 3


def test_an_incomplete_stage_runs_again_and_everything_after_it(tmp_path, images):
    out = tmp_path / "out"
    run_local(images, out, commands=COMMANDS)
    (out / "train/model/report.json").unlink()  # as if training had been killed
    rerun = run_local(images, out, commands=COMMANDS)
    assert [r.status for r in rerun.results.values()] == ["skipped", "ran", "ran"]


def test_a_failing_stage_stops_the_run_with_its_reason(tmp_path, images):
    out = tmp_path / "out"
    with pytest.raises(StageFailedError) as failed:
        run_local(images, out, settings={"train": {"fail": "true"}}, commands=COMMANDS)
    assert failed.value.stage == "train"
    assert failed.value.reason == "The fake train stage was told to fail; unset fail to pass."
    assert failed.value.log == out / "train/log.txt"
    assert not (out / "train/model/report.json").exists()
    assert not (out / "compress").exists()
    # fixed, the next run keeps sfm's output and carries on
    fixed = run_local(images, out, commands=COMMANDS)
    assert [r.status for r in fixed.results.values()] == ["skipped", "ran", "ran"]


def test_missing_images_is_a_clear_error(tmp_path):
    with pytest.raises(local_run.SpaceportError, match="do not exist"):
        run_local(tmp_path / "nothing", tmp_path / "out", commands=COMMANDS)


def test_plain_progress_and_summary_text(tmp_path, images):
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=False, width=120)
    with RichProgress(console, plain_interval_s=0) as view:
        summary = run_local(
            images,
            tmp_path / "out",
            settings={"train": {"steps": "30"}},
            commands=COMMANDS,
            view=view,
        )
    print_summary(summary, console)
    text = buffer.getvalue()
    assert "[train] step 30/30 100% eta 0.0s" in text  # the stage's progress metrics
    assert "[compress] SOG compression: done in" in text
    assert "4 of 5" in text and "27.25 dB" in text and "scene.sog" in text


def test_cli_run_and_its_error_exit(tmp_path, images, monkeypatch, capsys):
    monkeypatch.setattr(local_run, "default_commands", lambda: COMMANDS)
    out = tmp_path / "out"
    code = cli.main(["run", str(images), "--out", str(out), "--train-set", "steps=10"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "held-out PSNR" in printed and "27.25 dB" in printed
    # the run's top level, and how to open its page
    assert f"results page: {out / 'site' / 'index.html'}" in printed
    sog_line = next(line for line in printed.splitlines() if "(.sog):" in line)
    assert sog_line.split()[-1] == str(out / "scene.sog")  # not the one five folders down
    assert f"spaceport view {out}" in printed
    assert {"scene.sog", "summary.json", "site"} <= {p.name for p in out.iterdir()}
    code = cli.main(["run", str(images), "--out", str(out), "--redo", "--sfm-set", "fail=true"])
    assert code == 1
    assert "The sfm stage failed: The fake sfm stage was told to fail" in capsys.readouterr().err
