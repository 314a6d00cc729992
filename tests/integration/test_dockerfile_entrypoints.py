"""The stage Dockerfiles against their packages, without Docker.

Each image's command is read from its Dockerfile (ENTRYPOINT/CMD of the final stage, and for
train the `train` script the Dockerfile writes onto PATH) and run exactly as SageMaker would start
it (`docker run <image> <ContainerArguments>`, `docker run <image> train`), as a subprocess in
this virtualenv against a temporary `/opt/ml` tree (SPACEPORT_ML_ROOT). A Dockerfile that names
a command its package no longer installs, or a package whose console script no longer honours the
container contract, fails here. What only a real build shows (base images, CUDA kernels) is left
to `test_containers.py` on a host with Docker.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling helpers under importlib mode
import stage_inputs
from dockerfiles import (
    IMAGES,
    REPO_ROOT,
    STAGES,
    ImageCommand,
    command_form,
    dockerfile_path,
    env_pairs,
    image_command,
    stages,
    target_stages,
)

VENV_BIN = Path(sys.executable).parent
PATH_DIR_IN_IMAGE = "/usr/local/bin/"  # where a Dockerfile may put extra commands
GSPLAT_ARCHS = ["7.5", "8.0", "8.6", "8.9", "9.0"]  # T4 (sm_75) and every newer SageMaker GPU


def _project(stage: str) -> dict:
    path = REPO_ROOT / "stages" / stage / "pyproject.toml"
    if not path.exists():
        pytest.skip(f"stages/{stage} has no pyproject.toml yet")
    return tomllib.loads(path.read_text())["project"]


def _pin(dependencies: list[str], name: str) -> str:
    for requirement in dependencies:
        match = re.fullmatch(rf"{name}\s*==\s*([\w.+]+)", requirement.strip())
        if match:
            return match.group(1)
    raise AssertionError(f"{name} is not pinned with == in {dependencies}")


# --- what the Dockerfiles say --------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_every_build_stage_targets_linux_amd64(stage: str) -> None:
    found = stages(dockerfile_path(stage))
    assert len(found) >= 2, "multi-stage: a build stage and a slim runtime stage"
    for build_stage in found:
        assert build_stage.platform == "linux/amd64", build_stage.base
        assert ":" in build_stage.base and not build_stage.base.endswith(":latest"), (
            f"pin the base image: {build_stage.base}"
        )


@pytest.mark.parametrize("image", IMAGES)
def test_image_installs_shared_and_its_own_stage_only(image: str) -> None:
    stage, target = IMAGES[image]
    found = target_stages(dockerfile_path(stage), target)
    copies = [i.value for s in found for i in s.all("COPY") if not i.value.startswith("--from")]
    sources = {c.split()[0] for c in copies}
    assert sources == {"shared", f"stages/{stage}"}, copies
    final = found[-1]
    # The runtime stage takes files only from earlier stages: no sources or tests in its layers.
    for copy in final.all("COPY"):
        assert copy.value.startswith("--from="), copy


@pytest.mark.parametrize("stage", STAGES)
def test_no_parser_directive_or_trust_store_in_a_layer(stage: str) -> None:
    """`# syntax=` makes BuildKit pull a frontend image (no registry answers on our CI), and a
    certificate or host path in a layer would tie the image to one builder."""
    text = dockerfile_path(stage).read_text()
    assert not re.search(r"^#\s*syntax\s*=", text, re.MULTILINE | re.IGNORECASE)
    assert "/etc/ssl" not in text
    for build_stage in stages(dockerfile_path(stage)):
        assert not any("PIP_CERT" in i.value for i in build_stage.all("ENV")), build_stage.name
        if build_stage.base.startswith("python:"):  # the registry-free images' pip installs
            for run in build_stage.all("RUN"):
                if "pip install" in run.value:
                    assert run.value.startswith("--mount=type=secret,id=pip-cert"), run
        for run in build_stage.all("RUN"):  # pip's cache stays out of every layer
            if "pip install" in run.value or "pip wheel" in run.value:
                cached = "--mount=type=cache,target=/root/.cache/pip" in run.value
                assert cached or "--no-cache-dir" in run.value, run


@pytest.mark.parametrize("image", ["sfm", "compress", "train-cpu"])
def test_registry_free_images_build_on_the_python_image_argument(image: str) -> None:
    """`make build` swaps in a Debian-made stand-in through PYTHON_IMAGE, so every stage of these
    images starts from it, and its pinned default names the Debian release and Python minor the
    stand-in must match (scripts/build-images parses them)."""
    stage, target = IMAGES[image]
    path = dockerfile_path(stage)
    default = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", path.read_text(), re.MULTILINE)
    assert default, "no PYTHON_IMAGE build argument"
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", default.group(1)), default.group(1)
    for build_stage in target_stages(path, target):
        assert build_stage.base == default.group(1), build_stage.name


def test_cpu_train_image_compiles_numba_kernels_at_build_time() -> None:
    """The kernels are compiled into NUMBA_CACHE_DIR by a RUN of the image stage itself, for a
    named CPU model, so the job's machine (not the builder's) can load them."""
    final = target_stages(dockerfile_path("train"), "cpu")[-1]
    env = {k: v for i in final.all("ENV") for k, v in env_pairs(i.value).items()}
    assert env["NUMBA_CACHE_DIR"].startswith("/opt/")
    assert env["NUMBA_CPU_NAME"] == "x86-64-v3" and env["NUMBA_CPU_FEATURES"] == ""
    runs = " ".join(i.value for i in final.all("RUN"))
    assert "compile_kernels()" in runs
    from spaceport_train.cpu_rasterizer import compile_kernels

    assert callable(compile_kernels)


@pytest.mark.parametrize("stage", ["sfm", "compress"])
def test_processing_images_start_their_console_script_in_exec_form(stage: str) -> None:
    command = image_command(dockerfile_path(stage))
    scripts = _project(stage).get("scripts", {})
    assert command.entrypoint == [f"spaceport-{stage}"]
    assert command.entrypoint[0] in scripts, f"the package does not install {command.entrypoint}"


@pytest.mark.parametrize("target", ["cpu", "gpu"])
def test_train_image_runs_train_from_path(target: str) -> None:
    command = image_command(dockerfile_path("train"), target)
    assert command.entrypoint == [] and command.cmd == ["train"]
    assert command.argv("train") == ["train"]  # what `docker run <image> train` executes
    assert "spaceport-train" in _project("train").get("scripts", {})


def test_train_image_compiles_gsplat_kernels_matching_the_package_pins() -> None:
    build, runtime = target_stages(dockerfile_path("train"), "gpu")
    env = {k: v for i in build.all("ENV") for k, v in env_pairs(i.value).items()}
    assert env["TORCH_CUDA_ARCH_LIST"].split(";") == GSPLAT_ARCHS
    dependencies = _project("train")["dependencies"]
    build_text = " ".join(i.value for i in build.all("RUN"))
    assert f"gsplat=={_pin(dependencies, 'gsplat')}" in build_text
    torch = _pin(dependencies, "torch")
    assert build.base.startswith(f"pytorch/pytorch:{torch}-") and build.base.endswith("-devel")
    assert runtime.base == build.base.removesuffix("-devel") + "-runtime"


def test_command_form_rejects_the_shell_form() -> None:
    assert command_form('["spaceport-sfm"]') == ["spaceport-sfm"]
    assert command_form("spaceport-sfm --set a=b") is None
    assert ImageCommand(["x"], ["y"], {}).argv("z") == ["x", "z"]
    assert ImageCommand(["x"], ["y"], {}).argv() == ["x", "y"]


# --- running the image's command -------------------------------------------------------------


# The image each stage runs in on a CPU (train: the cpu variant; its command is the gpu one's).
TARGETS = {"sfm": None, "compress": None, "train": "cpu"}


def _install_path_commands(stage: str, bin_dir: Path) -> None:
    """Run the image stage's RUN lines that write commands onto PATH, into `bin_dir` instead."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    image_stage = target_stages(dockerfile_path(stage), TARGETS[stage])[-1]
    for instruction in image_stage.all("RUN"):
        if PATH_DIR_IN_IMAGE not in instruction.value or instruction.value.startswith("--mount"):
            continue
        script = instruction.value.replace(PATH_DIR_IN_IMAGE, f"{bin_dir}/")
        subprocess.run(["/bin/sh", "-c", script], check=True)


def run_like_sagemaker(run: stage_inputs.StageRun, bin_dir: Path) -> subprocess.CompletedProcess:
    """`docker run <image> <args>` for the stage's image, as a subprocess on this machine."""
    command = image_command(dockerfile_path(run.stage), TARGETS[run.stage])
    _install_path_commands(run.stage, bin_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPACEPORT_")}
    # Paths inside the image (NUMBA_CACHE_DIR=/opt/...) land beside bin_dir, not on this host.
    env.update(
        {
            k: str(bin_dir.parent / "image" / v.lstrip("/")) if v.startswith("/opt/") else v
            for k, v in command.env.items()
            if k != "PATH"
        }
    )
    env["PATH"] = os.pathsep.join([str(bin_dir), str(VENV_BIN), env.get("PATH", "")])
    env["SPACEPORT_ML_ROOT"] = str(run.root)
    argv = command.argv(*run.args)
    executable = shutil.which(argv[0], path=env["PATH"])
    assert executable, f"{argv[0]}, the image's command, is not installed by its package"
    return subprocess.run(
        [executable, *argv[1:]],
        cwd=run.root,  # the Dockerfiles' WORKDIR is /opt/ml
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _check(run: stage_inputs.StageRun, result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return stage_inputs.check_output(run)


@pytest.fixture(scope="module")
def survey(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return stage_inputs.synth_survey(tmp_path_factory.mktemp("survey") / "survey")


@pytest.mark.slow
def test_sfm_image_command_maps_the_test_survey(survey: Path, tmp_path: Path) -> None:
    _project("sfm")
    run = stage_inputs.sfm_run(tmp_path / "ml", survey)
    report = _check(run, run_like_sagemaker(run, tmp_path / "bin"))
    assert report["metrics"]["images_registered"] >= 9


@pytest.mark.slow
def test_train_image_command_trains_on_an_sfm_output(survey: Path, tmp_path: Path) -> None:
    _project("train")
    run = stage_inputs.train_run(tmp_path / "ml", survey)
    _check(run, run_like_sagemaker(run, tmp_path / "bin"))


def test_compress_image_command_compresses_a_model_archive(tmp_path: Path) -> None:
    _project("compress")
    run = stage_inputs.compress_run(tmp_path / "ml", tmp_path)
    _check(run, run_like_sagemaker(run, tmp_path / "bin"))


def test_a_failing_job_leaves_the_failure_file_sagemaker_reads(tmp_path: Path) -> None:
    """No photos in the processing input: non-zero exit, one sentence in /opt/ml/output/message."""
    _project("sfm")
    run = stage_inputs.sfm_run_without_photos(tmp_path / "ml")
    result = run_like_sagemaker(run, tmp_path / "bin")
    assert result.returncode != 0
    assert run.failure_file.is_file() and run.failure_file.read_text().strip()
    assert not (run.output_dir / "report.json").exists()
