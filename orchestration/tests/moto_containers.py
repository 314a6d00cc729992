"""Test-only: run a stage image the way SageMaker starts it, for the smoke tests and the chain.

A job's `/opt/ml` tree lives in a host folder; each folder SageMaker provides is bind-mounted at
its place under `/opt/ml` (processing: `processing/{input,output}`, `config`, `output`; training:
`input` with `config/{hyperparameters,resourceconfig,inputdataconfig}.json` and `data/<channel>`,
`model`, `output`, `checkpoints`), the container gets no network (`--network none`, SageMaker's
`EnableNetworkIsolation`), and is started as `docker run <image> <ContainerArguments>` or
`docker run <image> train`. `container_runner` plugs this into the SageMaker stand-in
(`SageMakerEmulator(runner=...)`, moto_sagemaker.py): its image map then names, for each image
URI, the local image that runs it.

Needs a Docker engine (DOCKER_HOST) and testcontainers; Ryuk, testcontainers' reaper, is an image
no registry here serves, so it is disabled and each container is removed when it ends.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

PROCESSING_MOUNTS = ("processing/input", "processing/output", "config", "output")
TRAINING_MOUNTS = ("input", "model", "output", "checkpoints")
RUN_TIMEOUT_S = 900
# What SageMaker writes for a one-instance training job.
RESOURCE_CONFIG = {"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"}


def sagemaker_mounts(kind: str, root: Path) -> dict[str, str]:
    """Host folder -> container path, each made if missing (SageMaker mounts them all)."""
    names = PROCESSING_MOUNTS if kind == "Processing" else TRAINING_MOUNTS
    mounts = {}
    for name in names:
        (root / name).mkdir(parents=True, exist_ok=True)
        mounts[str(root / name)] = f"/opt/ml/{name}"
    if kind == "Training":
        config = root / "input" / "config"
        config.mkdir(parents=True, exist_ok=True)
        resource = config / "resourceconfig.json"
        if not resource.exists():
            resource.write_text(json.dumps(RESOURCE_CONFIG))
    return mounts


def run_image(
    image: str,
    args: Sequence[str],
    root: Path,
    kind: str,
    env: Mapping[str, str] | None = None,
    timeout_s: float = RUN_TIMEOUT_S,
    entrypoint: Sequence[str] | None = None,
) -> tuple[int, str]:
    """`docker run --network none -v ... <image> <args>`; returns the exit code and the log."""
    from testcontainers.core.container import DockerContainer

    options: dict[str, Any] = {"network_mode": "none"}
    if entrypoint is not None:
        options["entrypoint"] = list(entrypoint)
    container = DockerContainer(image, env=dict(env or {})).with_kwargs(**options)
    for host, path in sagemaker_mounts(kind, root).items():
        container = container.with_volume_mapping(host, path, "rw")
    container = container.with_command(list(args))
    with container:
        wrapped = container.get_wrapped_container()
        status = wrapped.wait(timeout=timeout_s)
        log = wrapped.logs().decode("utf-8", errors="replace")
    return int(status["StatusCode"]), log


def container_runner(
    timeout_s: float = RUN_TIMEOUT_S,
) -> Callable[[Any, Sequence[str], Mapping[str, str]], tuple[int, str]]:
    """A runner for `SageMakerEmulator`: argv is `[local image, *arguments]` as the emulator
    builds it from its image map and the job's ContainerArguments (or `train`)."""

    def run(record: Any, argv: Sequence[str], env: Mapping[str, str]) -> tuple[int, str]:
        return run_image(argv[0], argv[1:], record.root, record.kind, env, timeout_s)

    return run
