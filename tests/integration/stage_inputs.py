"""Tiny inputs in a SageMaker `/opt/ml` tree for each stage, and the checks on what it wrote.

Shared by the Docker smoke tests (`test_containers.py`, the tree is mounted at /opt/ml) and the
Docker-free entrypoint tests (`test_dockerfile_entrypoints.py`, the tree is SPACEPORT_ML_ROOT).
Inputs are what the state machine hands each stage: photos for sfm, the sfm output as the
training channel, train's `model.tar.gz` for compress.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spaceport_shared.contract import ProcessingPaths, TrainingPaths
from spaceport_shared.ply import read_ply, write_ply
from spaceport_shared.splat import SplatModel

# Settings small enough for a CPU in seconds, passed the way the state machine passes them.
SFM_ARGS = ("--set", "max_image_size=320")
TRAIN_HYPERPARAMETERS = {"steps": "10", "max_image_size": "96", "backend": "cpu"}
COMPRESS_ARGS: tuple[str, ...] = ()
# The chain's training settings: ~1 minute per chain on 2 cores (test_chain.py, test_containers.py).
CHAIN_TRAIN_SETTINGS = {"steps": "20", "max_image_size": "160"}
# Report metrics the state machine's success message reads (orchestration/statemachine.py).
SFM_REPORT_METRICS = ("images_registered", "images_total")
COMPRESS_REPORT_METRICS = ("input_bytes", "output_bytes", "ratio")
SOG_NAME = "scene.sog"


@dataclass
class StageRun:
    """One stage's job: the `/opt/ml` root, the arguments SageMaker passes, where output lands."""

    stage: str
    root: Path
    args: tuple[str, ...]
    output_dir: Path
    failure_file: Path
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def container_args(self) -> tuple[str, ...]:
        """As the state machine sends them: processing jobs name the contract root first."""
        if self.stage == "train":
            return self.args
        return ("--ml-root", "/opt/ml", *self.args)


def synth_survey(dest: Path) -> Path:
    """The synth `test` preset: 12 geotagged 320x240 JPEGs; returns the survey root."""
    from spaceport_synth import generate

    return generate(dest, preset="test", seed=0).root


def sfm_run(root: Path, survey_root: Path) -> StageRun:
    paths = ProcessingPaths(root)
    shutil.copytree(survey_root / "images", paths.input())
    return StageRun("sfm", root, SFM_ARGS, paths.output(), paths.failure_file)


def sfm_run_without_photos(root: Path) -> StageRun:
    """A bad sfm input: an empty processing input."""
    paths = ProcessingPaths(root)
    paths.input().mkdir(parents=True)
    return StageRun("sfm", root, SFM_ARGS, paths.output(), paths.failure_file)


def train_run_without_channel(root: Path) -> StageRun:
    """A bad train input: hyperparameters but an empty training channel."""
    paths = TrainingPaths(root)
    paths.channel().mkdir(parents=True)
    paths.hyperparameters_file.parent.mkdir(parents=True)
    paths.hyperparameters_file.write_text(json.dumps(TRAIN_HYPERPARAMETERS))
    paths.model_dir.mkdir(parents=True)
    return StageRun("train", root, ("train",), paths.model_dir, paths.failure_file)


def train_run(root: Path, survey_root: Path) -> StageRun:
    """The training channel holds an sfm-shaped output: the true poses as a COLMAP model."""
    from spaceport_synth import write_colmap_model

    paths = TrainingPaths(root)
    channel = paths.channel()
    write_colmap_model(survey_root, channel)
    paths.hyperparameters_file.parent.mkdir(parents=True, exist_ok=True)
    paths.hyperparameters_file.write_text(json.dumps(TRAIN_HYPERPARAMETERS))
    paths.model_dir.mkdir(parents=True)  # SageMaker mounts it before the container starts
    return StageRun("train", root, ("train",), paths.model_dir, paths.failure_file)


def tiny_splats(count: int = 600, seed: int = 0) -> SplatModel:
    rng = np.random.default_rng(seed)
    return SplatModel(
        means=rng.normal(0.0, 2.0, (count, 3)),
        quats=rng.normal(0.0, 1.0, (count, 4)),
        scales=rng.normal(-2.5, 0.3, (count, 3)),
        opacities=rng.normal(1.0, 1.0, count),
        sh0=rng.normal(0.0, 0.5, (count, 1, 3)),
        shN=rng.normal(0.0, 0.05, (count, 15, 3)),
    )


def compress_run(root: Path, work: Path) -> StageRun:
    """Train's output as SageMaker hands it on: `model.tar.gz` holding the PLY."""
    paths = ProcessingPaths(root)
    paths.input().mkdir(parents=True)
    model = tiny_splats()
    ply = write_ply(work / "splats.ply", model)
    with tarfile.open(paths.input() / "model.tar.gz", "w:gz") as archive:
        archive.add(ply, arcname="splats.ply")
    return StageRun(
        "compress", root, COMPRESS_ARGS, paths.output(), paths.failure_file, {"count": model.count}
    )


def read_report(run: StageRun) -> dict[str, Any]:
    report_path = run.output_dir / "report.json"
    assert report_path.is_file(), f"no report.json in {run.output_dir}"
    report = json.loads(report_path.read_text())
    assert report["stage"] == run.stage
    assert not run.failure_file.exists(), run.failure_file.read_text()
    listed = {entry["path"] for entry in report["outputs"]}
    on_disk = {
        p.relative_to(run.output_dir).as_posix()
        for p in run.output_dir.rglob("*")
        if p.is_file() and p.name != "report.json"
    }
    assert listed == on_disk, "report.json must list exactly the files the stage wrote"
    return report


def check_output(run: StageRun) -> dict[str, Any]:
    """The stage's outputs are there and its report says what the state machine reads."""
    report = read_report(run)
    metrics = report["metrics"]
    if run.stage == "sfm":
        assert (run.output_dir / "sparse" / "0").is_dir()
        for name in SFM_REPORT_METRICS:
            assert name in metrics, f"sfm report lacks {name}"
        assert metrics["images_total"] == 12
        assert metrics["images_registered"] >= 3
    elif run.stage == "train":
        plys = sorted(run.output_dir.rglob("*.ply"))
        assert plys, "training wrote no PLY into the model folder"
        assert read_ply(plys[0]).count > 0
    else:
        sog = run.output_dir / SOG_NAME
        assert sog.is_file() and sog.stat().st_size > 0
        for name in COMPRESS_REPORT_METRICS:
            assert name in metrics, f"compress report lacks {name}"
    return report
