"""Which image a stage's job runs on a given SageMaker instance type."""

from __future__ import annotations

import pytest

from spaceport_orchestration.stages import IMAGES, STAGES, image_for


@pytest.mark.parametrize("instance_type", ["ml.g4dn.xlarge", "ml.g5.2xlarge", "ml.p3.2xlarge"])
def test_training_on_a_gpu_instance_runs_the_gpu_image(instance_type: str) -> None:
    assert image_for("train", instance_type) == "train"


@pytest.mark.parametrize("instance_type", ["ml.c6i.4xlarge", "ml.m5.2xlarge", "ml.c5.xlarge"])
def test_training_on_a_cpu_instance_runs_the_cpu_image(instance_type: str) -> None:
    assert image_for("train", instance_type) == "train-cpu"


def test_processing_stages_run_their_own_image_anywhere() -> None:
    for stage in ("sfm", "compress"):
        assert image_for(stage, "ml.c6i.2xlarge") == stage
        assert image_for(stage, "ml.g4dn.xlarge") == stage
    assert {image_for(s, t) for s in STAGES for t in ("ml.c6i.4xlarge", "ml.g4dn.xlarge")} == set(
        IMAGES
    )
