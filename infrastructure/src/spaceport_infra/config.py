"""What a deployment may change, with defaults; read from `cdk -c key=value` context."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]
STAGES = ("sfm", "train", "compress")
# The quota instance types the pipeline is sized for (the state machine's defaults too).
INSTANCE_TYPES = {"sfm": "ml.c6i.2xlarge", "train": "ml.g4dn.xlarge", "compress": "ml.c6i.4xlarge"}


@dataclass(frozen=True)
class PipelineConfig:
    name_prefix: str = "spaceport"  # SageMaker job names, ECR repositories, the state machine
    image_tag: str = "latest"  # the tag `make build-push` pushed (make deploy passes the commit)
    existing_repositories: bool = False  # adopt ECR repositories that exist (build-push, destroy)
    sfm_instance_type: str = INSTANCE_TYPES["sfm"]
    train_instance_type: str = INSTANCE_TYPES["train"]
    compress_instance_type: str = INSTANCE_TYPES["compress"]
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
        return getattr(self, f"{stage}_instance_type")

    @classmethod
    def from_context(cls, get: Any) -> PipelineConfig:
        """Build from CDK context (`app.node.try_get_context`): every value may be a string."""
        config = cls()
        changes: dict[str, Any] = {}
        for field in fields(cls):
            raw = get(field.name)
            if raw is None:
                continue
            current = getattr(config, field.name)
            changes[field.name] = _coerce(raw, current, field.name)
        return replace(config, **changes)


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
