"""The pipeline's stages, written once: the local runner, the execution input, the CLI, the state
machine, the progress view and the CDK stack all read this list.

Each stage is a package with a `spaceport-<name>` console script obeying the `/opt/ml` contract
(`spaceport_shared.contract`). Its job kind decides everything else about how it is run:

| kind | SageMaker job | execution input field | settings as |
|---|---|---|---|
| processing | Processing job | `<name>_args` | ContainerArguments `--set k=v` (also locally) |
| training | Training job, `<image> train` | `<name>_hyperparameters` | hyperparameters.json |

A stage reads the output of the one before it (the first stage: the photos). On AWS a processing
stage after a training stage reads its `model.tar.gz`; locally it gets the file `local_input`
names from the training output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from spaceport_shared.contract import DEFAULT_ML_ROOT

JobKind = Literal["processing", "training"]


@dataclass(frozen=True)
class StageInfo:
    name: str  # the package's short name: spaceport-<name>, settings key, S3 folder
    kind: JobKind
    title: str  # what a user reads in progress lines and emails
    instance_type: str  # the SageMaker instance type the pipeline is sized for
    volume_size_gb: int
    max_runtime_s: int
    max_wait_s: int | None = None  # training on spot: wait for capacity + run (> max_runtime_s)
    local_input: str | None = None  # glob of the one upstream file it reads locally; None: all
    # Bounds the public API puts on settings that drive cost (inclusive); the stage itself
    # validates every value, these are the ones a stranger could use to run up a bill.
    api_limits: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def command(self) -> str:
        return f"spaceport-{self.name}"

    @property
    def label(self) -> str:
        return f"{self.title} ({self.name})"

    @property
    def state(self) -> str:
        """The state machine's task state (and the prefix of its substitution names)."""
        return self.name.capitalize()

    @property
    def task_states(self) -> tuple[str, ...]:
        """Every state that runs this stage's job (training also runs on managed spot)."""
        return (self.state, f"{self.state}OnSpot") if self.kind == "training" else (self.state,)

    @property
    def settings_field(self) -> str:
        """The execution input field that carries this stage's settings."""
        return f"{self.name}_args" if self.kind == "processing" else f"{self.name}_hyperparameters"

    def job_settings(self, values: Mapping[str, str]) -> list[str] | dict[str, str]:
        """The settings as the SageMaker job takes them: ContainerArguments (which SageMaker
        requires non-empty, so the contract root comes first) or hyperparameters."""
        if self.kind == "training":
            return dict(values)
        return ["--ml-root", DEFAULT_ML_ROOT.as_posix(), *set_arguments(values)]


def set_arguments(values: Mapping[str, str]) -> list[str]:
    """`--set key=value ...`: how a processing stage's console script takes its settings."""
    args: list[str] = []
    for key, value in values.items():
        args += ["--set", f"{key}={value}"]
    return args


TRAIN_MAX_RUNTIME_S = 14400
# A training budget must end before SageMaker stops the job: this much of the limit is kept for
# the container's start, the data download and the upload of the model.
TRAIN_BUDGET_MARGIN_MIN = 30

PIPELINE: tuple[StageInfo, ...] = (
    StageInfo(
        name="sfm",
        kind="processing",
        title="structure from motion",
        instance_type="ml.c6i.2xlarge",
        volume_size_gb=50,
        max_runtime_s=7200,
        api_limits={"max_image_size": (256, 8192), "max_num_features": (256, 65536)},
    ),
    StageInfo(
        name="train",
        kind="training",
        title="Gaussian-splat training",
        instance_type="ml.g4dn.xlarge",
        volume_size_gb=50,
        max_runtime_s=TRAIN_MAX_RUNTIME_S,
        max_wait_s=28800,
        api_limits={
            "steps": (1, 30000),
            "time_budget_min": (1, TRAIN_MAX_RUNTIME_S / 60 - TRAIN_BUDGET_MARGIN_MIN),
            "max_gaussians": (1000, 3_000_000),
            "max_image_size": (16, 4096),
        },
    ),
    StageInfo(
        name="compress",
        kind="processing",
        title="SOG compression",
        instance_type="ml.c6i.4xlarge",
        volume_size_gb=30,
        max_runtime_s=3600,
        local_input="*.ply",
        api_limits={"sh_palette_size": (0, 65536)},
    ),
)

STAGES: tuple[str, ...] = tuple(s.name for s in PIPELINE)
BY_NAME: dict[str, StageInfo] = {s.name: s for s in PIPELINE}
# Every image `make build` makes (ECR repository <prefix>-<image>): train in two variants.
IMAGES: tuple[str, ...] = ("sfm", "train", "train-cpu", "compress")
# SageMaker instance families with a GPU (g4dn, g5, g6, p3, p4d, p5 ...); any other type is CPU.
GPU_INSTANCE_PREFIXES = ("ml.g", "ml.p")


def image_for(stage: str, instance_type: str) -> str:
    """The image a stage's job runs on `instance_type`: training on a CPU instance (a small job
    without GPU quota, e.g. ml.c6i.4xlarge) runs the cpu variant, every other job its own."""
    if BY_NAME[stage].kind == "training" and not instance_type.startswith(GPU_INSTANCE_PREFIXES):
        return f"{stage}-cpu"
    return stage


def upstream(stage: str) -> StageInfo | None:
    """The stage whose output `stage` reads (None: it reads the photos)."""
    index = STAGES.index(stage)
    return PIPELINE[index - 1] if index else None


def stage_of_state(state: str) -> str | None:
    """The stage a state machine task state runs, or None."""
    for info in PIPELINE:
        if state in info.task_states:
            return info.name
    return None
