"""What a deployment may change, with defaults; read from `cdk -c key=value` context."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from spaceport_orchestration.naming import DEFAULT_PREFIX, check_prefix
from spaceport_orchestration.stages import PIPELINE, STAGES

REPO_ROOT = Path(__file__).resolve().parents[3]


def _default_instance_types() -> dict[str, str]:
    """The instance types the pipeline is sized for (the state machine's defaults too)."""
    return {info.name: info.instance_type for info in PIPELINE}


@dataclass(frozen=True)
class PipelineConfig:
    name_prefix: str = DEFAULT_PREFIX  # SageMaker job names, ECR repositories, the state machine
    image_tag: str = "latest"  # the tag `make build-push` pushed (make deploy passes the commit)
    existing_repositories: bool = False  # adopt ECR repositories that exist (build-push, destroy)
    # per stage; CDK context `-c <stage>_instance_type=ml....` changes one
    instance_types: Mapping[str, str] = field(default_factory=_default_instance_types)
    train_use_spot: bool = False
    # S3 layout (must match orchestration): every job lives under jobs/<execution name>/
    # (`spaceport submit` uploads its photos to jobs/<id>/images/); photo sets for the /start-job
    # API are uploaded under uploads/. Outputs worth nothing once a job has finished go under an
    # intermediate prefix, where a lifecycle rule deletes them.
    jobs_prefix: str = "jobs/"
    uploads_prefix: str = "uploads/"
    images_folder: str = "images/"
    intermediate_prefixes: tuple[str, ...] = ("intermediate/",)
    intermediate_expiry_days: int = 14
    job_expiry_days: int = 0  # 0: keep job outputs until deleted
    images_kept: int = 10  # per ECR repository
    api_auth: str = "iam"  # "iam" (SigV4) or "api-key" (x-api-key header, usage plan)
    api_rate_limit: float = 1.0  # requests per second, steady state
    api_burst_limit: int = 5
    log_retention_days: int = 90
    state_machine_path: Path = REPO_ROOT / "orchestration" / "statemachine.asl.json"

    def __post_init__(self) -> None:
        check_prefix(self.name_prefix)
        if self.api_auth not in ("iam", "api-key"):
            raise ValueError(f"api_auth must be 'iam' or 'api-key', not {self.api_auth!r}")
        prefixes = (self.jobs_prefix, self.uploads_prefix, self.images_folder)
        for prefix in (*prefixes, *self.intermediate_prefixes):
            if not prefix.endswith("/") or prefix.startswith("/"):
                raise ValueError(f"S3 prefix {prefix!r} must end with '/' and not start with it")
        if self.intermediate_expiry_days < 1 or self.job_expiry_days < 0:
            raise ValueError("expiry days must be positive (job_expiry_days 0 keeps job outputs)")

    @property
    def image_patterns(self) -> tuple[str, ...]:
        """Keys a job's photos may have (IAM resource and s3:prefix patterns)."""
        return (f"{self.jobs_prefix}*/{self.images_folder}*", f"{self.uploads_prefix}*")

    @property
    def job_data_prefixes(self) -> tuple[str, ...]:
        """Where the stage jobs write (and read what earlier stages wrote)."""
        return (self.jobs_prefix, *self.intermediate_prefixes)

    def instance_type(self, stage: str) -> str:
        return self.instance_types[stage]

    @classmethod
    def from_context(cls, get: Any) -> PipelineConfig:
        """Build from CDK context (`app.node.try_get_context`): every value may be a string."""
        config = cls()
        changes: dict[str, Any] = {}
        for item in fields(cls):
            raw = get(item.name)
            if raw is None or item.name == "instance_types":
                continue
            current = getattr(config, item.name)
            changes[item.name] = _coerce(raw, current, item.name)
        instance_types = dict(config.instance_types)
        for stage in STAGES:
            raw = get(f"{stage}_instance_type")
            if raw is not None:
                instance_types[stage] = str(raw)
        return replace(config, instance_types=instance_types, **changes)


def _coerce(raw: Any, current: Any, name: str) -> Any:
    if isinstance(current, bool):
        if isinstance(raw, bool):
            return raw
        if str(raw).lower() in ("true", "1", "yes"):
            return True
        if str(raw).lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"context {name} must be true or false, not {raw!r}")
    if isinstance(current, int | float):
        return type(current)(raw)
    if isinstance(current, tuple):
        return tuple(raw) if isinstance(raw, list) else tuple(str(raw).split(","))
    if isinstance(current, Path):
        return Path(raw)
    return str(raw)
