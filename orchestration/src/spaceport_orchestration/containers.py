"""`spaceport run --containers`: each stage in its built image instead of this Python environment.

The local runner's commands become `docker run` lines: no network (as SageMaker's network
isolation), the run folder mounted at `/opt/spaceport-run` and the stage's `/opt/ml` tree named by
SPACEPORT_ML_ROOT inside it, so the training channel (a relative link to the sfm output) resolves
in the container as on the host. Processing images get the runner's `--set` arguments as their
ContainerArguments, the training image `train`, as SageMaker starts them. Train runs in the cpu
image (`spaceport-train-cpu`): `make build` makes it on any machine, the gpu one needs a registry.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from spaceport_shared.contract import ML_ROOT_ENV
from spaceport_shared.errors import SpaceportError

RUN_MOUNT = "/opt/spaceport-run"
STAGE_IMAGES = {"sfm": "sfm", "train": "train-cpu", "compress": "compress"}


def image_names(prefix: str = "spaceport", tag: str = "latest") -> dict[str, str]:
    return {stage: f"{prefix}-{image}:{tag}" for stage, image in STAGE_IMAGES.items()}


def container_commands(
    run_out: Path, prefix: str = "spaceport", tag: str = "latest", docker: str | None = None
) -> dict[str, list[str]]:
    """The runner's command per stage; one sentence when Docker or an image is missing."""
    client = docker or shutil.which("docker")
    if client is None:
        raise SpaceportError(
            "No docker command is on PATH; install Docker or run without --containers."
        )
    run_out = Path(run_out).resolve()
    run_out.mkdir(parents=True, exist_ok=True)
    commands = {}
    for stage, image in image_names(prefix, tag).items():
        found = subprocess.run(
            [client, "image", "inspect", image], capture_output=True, text=True, check=False
        )
        if found.returncode != 0:
            raise SpaceportError(
                f"The image {image} is not in the Docker engine ({found.stderr.strip()[:200]}); "
                "build it with `make build` first."
            )
        commands[stage] = [
            client,
            "run",
            "--rm",
            "--network",
            "none",
            "--volume",
            f"{run_out}:{RUN_MOUNT}",
            "--env",
            f"{ML_ROOT_ENV}={RUN_MOUNT}/{stage}",
            "--workdir",
            f"{RUN_MOUNT}/{stage}",
            image,
        ]
    return commands
