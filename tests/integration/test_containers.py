"""The built stage images, run the way SageMaker runs them (testcontainers, `--network none`).

- Each image on a tiny synthetic input: processing images (sfm, compress) with the state
  machine's ContainerArguments and `/opt/ml/processing/{input,output}`; the training image (the
  cpu variant) as `<image> train` with `hyperparameters.json`, `resourceconfig.json`, the
  `training` channel and `/opt/ml/checkpoints`. Exit code, outputs and report.json are checked as
  in the Docker-free `test_dockerfile_entrypoints.py`; a bad input must exit non-zero leaving the
  failure file's one sentence.
- The chain in containers: the committed state machine executed by moto, its SageMaker stand-in
  running these images (orchestration/tests/moto_containers.py) on the `test` survey.

The images are those `make build` tags `<prefix>-<image>:<tag>` (SPACEPORT_IMAGE_PREFIX, default
`spaceport`; SPACEPORT_IMAGE_TAG, default `latest`). Without a Docker engine (`make engine` starts
one) or a built image the tests skip saying so; under SPACEPORT_REQUIRE_CONTAINERS=1 (`.ci/run`)
they fail instead, so CI cannot pass by skipping them.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))  # sibling helpers under importlib mode
sys.path.insert(0, str(REPO / "orchestration" / "tests"))  # the moto shim and container backend
import stage_inputs  # noqa: E402
from moto_containers import container_runner, run_image  # noqa: E402

from spaceport_orchestration.stages import image_for  # noqa: E402

IMAGE_PREFIX = os.environ.get("SPACEPORT_IMAGE_PREFIX", "spaceport")
IMAGE_TAG = os.environ.get("SPACEPORT_IMAGE_TAG", "latest")
REQUIRED = os.environ.get("SPACEPORT_REQUIRE_CONTAINERS") == "1"
# Train runs in its cpu variant here; the gpu one needs a GPU host (see the README).
STAGE_IMAGES = {"sfm": "sfm", "train": "train-cpu", "compress": "compress"}
KIND = {"sfm": "Processing", "compress": "Processing", "train": "Training"}
CPU_TRAINING_INSTANCE = "ml.c6i.4xlarge"


def _cannot_run(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason} (SPACEPORT_REQUIRE_CONTAINERS=1)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def docker_client():
    try:
        import docker

        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as exc:  # no socket, no daemon, no permission: all mean "cannot run here"
        _cannot_run(
            f"no Docker engine answers ({type(exc).__name__}: {exc}); "
            'start one with `eval "$(make -s engine)"`'
        )
    return client


def image_name(client, image: str) -> str:
    import docker.errors

    name = f"{IMAGE_PREFIX}-{image}:{IMAGE_TAG}"
    try:
        found = client.images.get(name)
    except docker.errors.ImageNotFound:
        _cannot_run(f"image {name} is not built; run `make build STAGE={image}` first")
    assert found.attrs.get("Architecture") == "amd64", f"{name} is not linux/amd64"
    return name


def run_stage(client, run: stage_inputs.StageRun) -> tuple[int, str]:
    image = image_name(client, STAGE_IMAGES[run.stage])
    return run_image(image, run.container_args, run.root, KIND[run.stage])


@pytest.fixture(scope="module")
def survey(docker_client, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return stage_inputs.synth_survey(tmp_path_factory.mktemp("survey") / "survey")


def _check(client, run: stage_inputs.StageRun) -> dict:
    code, log = run_stage(client, run)
    assert code == 0, log[-4000:]
    return stage_inputs.check_output(run)


def _check_failure(client, run: stage_inputs.StageRun) -> str:
    code, log = run_stage(client, run)
    assert code != 0, log[-2000:]
    assert run.failure_file.is_file(), log[-2000:]
    sentence = run.failure_file.read_text().strip()
    assert sentence and "\n" not in sentence and sentence.endswith("."), sentence
    assert not (run.output_dir / "report.json").exists()
    return sentence


# --- each image ------------------------------------------------------------------------------


@pytest.mark.slow
def test_sfm_image_maps_the_test_survey(docker_client, survey: Path, tmp_path: Path) -> None:
    report = _check(docker_client, stage_inputs.sfm_run(tmp_path / "ml", survey))
    assert report["metrics"]["images_registered"] >= 9


def test_sfm_image_without_photos_fails_with_one_sentence(docker_client, tmp_path: Path) -> None:
    run = stage_inputs.sfm_run_without_photos(tmp_path / "ml")
    assert "photos" in _check_failure(docker_client, run)


@pytest.mark.slow
def test_train_image_trains_on_an_sfm_output(docker_client, survey: Path, tmp_path: Path) -> None:
    run = stage_inputs.train_run(tmp_path / "ml", survey)
    hyperparameters = {**stage_inputs.TRAIN_HYPERPARAMETERS, "checkpoint_interval": "5"}
    run.root.joinpath("input", "config", "hyperparameters.json").write_text(
        json.dumps(hyperparameters)
    )
    _check(docker_client, run)
    assert (run.root / "input" / "config" / "resourceconfig.json").is_file()
    assert any((run.root / "checkpoints").iterdir()), "no checkpoint in /opt/ml/checkpoints"


def test_train_image_without_a_training_channel_fails(docker_client, tmp_path: Path) -> None:
    run = stage_inputs.train_run_without_channel(tmp_path / "ml")
    _check_failure(docker_client, run)


def test_compress_image_compresses_a_model_archive(docker_client, tmp_path: Path) -> None:
    run = stage_inputs.compress_run(tmp_path / "ml", tmp_path)
    report = _check(docker_client, run)
    assert report["metrics"]["ratio"] > 1


def test_compress_image_on_a_corrupt_archive_fails(docker_client, tmp_path: Path) -> None:
    run = stage_inputs.compress_run(tmp_path / "ml", tmp_path)
    (run.root / "processing" / "input" / "model.tar.gz").write_bytes(b"not a tar archive")
    _check_failure(docker_client, run)


def test_train_cpu_image_holds_its_compiled_numba_kernels(docker_client) -> None:
    """The kernels are in the image's cache: loading them compiles nothing (a job's first step
    does not wait for numba), on a container with no network."""
    image = image_name(docker_client, "train-cpu")
    script = (
        "import os, sys; from spaceport_train import cpu_kernels as k; "
        "from spaceport_train.cpu_rasterizer import compile_kernels; "
        "before = sorted(os.listdir(os.environ['NUMBA_CACHE_DIR'])); compile_kernels(); "
        "after = sorted(os.listdir(os.environ['NUMBA_CACHE_DIR'])); "
        "sys.exit(0 if before and before == after else 'kernels were recompiled')"
    )
    output = docker_client.containers.run(
        image, ["python", "-c", script], entrypoint=[], remove=True, network_mode="none"
    )
    assert output is not None


# --- the chain under the state machine --------------------------------------------------------


@pytest.fixture
def container_pipeline(docker_client, tmp_path: Path, monkeypatch):
    """The moto pipeline whose SageMaker stand-in runs the stage images."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    from moto_pipeline import REGION, moto_pipeline

    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    images = {stage: [image_name(docker_client, name)] for stage, name in STAGE_IMAGES.items()}
    # Deployed for a CPU training instance (no GPU quota needed): train runs the cpu image.
    substitutions = {"TrainInstanceType": CPU_TRAINING_INSTANCE}
    with moto_pipeline(
        tmp_path, images, runner=container_runner(), substitutions=substitutions
    ) as pipeline:
        yield pipeline


def _upload(pipeline, folder: Path, prefix: str, limit: int | None = None) -> str:
    from moto_pipeline import BUCKET

    for path in sorted(folder.glob("*"))[:limit]:
        pipeline.s3.upload_file(str(path), BUCKET, f"{prefix}/{path.name}")
    return f"s3://{BUCKET}/{prefix}/"


def _start(pipeline, job_id: str, images_uri: str):
    from moto_pipeline import start_test_job

    settings = {"train": stage_inputs.CHAIN_TRAIN_SETTINGS}
    return start_test_job(pipeline, job_id, images_uri, settings, subscribe=False)


@pytest.mark.slow
def test_chain_in_containers_emails_the_sog(container_pipeline, survey: Path) -> None:
    from moto_pipeline import BUCKET

    pipeline = container_pipeline
    started = _start(pipeline, "boxed-ok", _upload(pipeline, survey / "images", "uploads/ok"))
    done = pipeline.wait(started.execution_arn, timeout_s=1200)
    logs = "\n".join(f"--- {j.name}\n{j.log[-3000:]}" for j in pipeline.emulator.jobs)
    assert done["status"] == "SUCCEEDED", logs
    assert [j.kind for j in pipeline.emulator.jobs] == ["Processing", "Training", "Processing"]
    sog_key = "jobs/boxed-ok/compress/scene.sog"
    assert pipeline.s3.head_object(Bucket=BUCKET, Key=sog_key)["ContentLength"] > 0
    [train_job] = [j for j in pipeline.emulator.jobs if j.kind == "Training"]
    assert train_job.request["resource_config"]["InstanceType"] == CPU_TRAINING_INSTANCE
    assert image_for("train", CPU_TRAINING_INSTANCE) == STAGE_IMAGES["train"]
    model_key = f"jobs/boxed-ok/train/{train_job.name}/output/model.tar.gz"
    assert pipeline.s3.head_object(Bucket=BUCKET, Key=model_key)["ContentLength"] > 0
    [message] = pipeline.messages()
    assert f"s3://{BUCKET}/{sog_key}" in message["Message"], message["Message"]


@pytest.mark.slow
def test_chain_in_containers_fails_with_the_stage_sentence(
    container_pipeline, survey: Path
) -> None:
    pipeline = container_pipeline
    images = _upload(pipeline, survey / "images", "uploads/bad", limit=2)  # too few photos
    started = _start(pipeline, "boxed-bad", images)
    done = pipeline.wait(started.execution_arn, timeout_s=600)
    assert done["status"] == "FAILED"
    [job] = pipeline.emulator.jobs
    sentence = (job.root / "output" / "message").read_text().strip()
    assert sentence
    [message] = pipeline.messages()
    assert "failed in the structure from motion (sfm) stage" in message["Message"]
    assert sentence in message["Message"]  # the stage's own sentence, from inside the image


# --- `spaceport run --containers` ------------------------------------------------------------


@pytest.mark.slow
def test_spaceport_run_in_containers_prints_the_summary(
    docker_client, survey: Path, tmp_path: Path, capsys
) -> None:
    from spaceport_orchestration import cli

    for image in STAGE_IMAGES.values():
        image_name(docker_client, image)
    out = tmp_path / "boxed"
    args = ["run", str(survey / "images"), "--out", str(out), "--containers"]
    for key, value in stage_inputs.CHAIN_TRAIN_SETTINGS.items():
        args += ["--train-set", f"{key}={value}"]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert "held-out PSNR" in printed and "n/a dB" not in printed
    sog = next((out / "compress" / "processing" / "output").glob("*.sog"))
    assert sog.stat().st_size > 0


def test_run_containers_without_an_image_says_to_build_it(tmp_path: Path) -> None:
    """Docker-free: a docker that knows no image -> one sentence naming `make build`."""
    from spaceport_orchestration.containers import container_commands
    from spaceport_shared.errors import SpaceportError

    docker = tmp_path / "docker"
    docker.write_text("#!/bin/sh\necho 'Error: No such image' >&2\nexit 1\n")
    docker.chmod(0o755)
    with pytest.raises(SpaceportError, match=r"spaceport-sfm:latest is not .*`make build`"):
        container_commands(tmp_path / "run", docker=str(docker))
