"""Job ids, SageMaker job names and the IAM resource patterns that must match them, in one place.

    job id             what the user chose, or sp-YYYYMMDD-HHMMSS-xxxxxx (the execution name)
    SageMaker job      <prefix>-<job id>-<stage>-<retry count>, e.g. spaceport-sp-2026...-sfm-0
    IAM resource       processing-job/<prefix>-*, training-job/<prefix>-*

The prefix is the deployment's name prefix (`PipelineConfig.name_prefix`, the state machine's
`JobNamePrefix` substitution), so a role can be scoped to its own stack's jobs whatever ids users
pick. SageMaker writes job names into ARNs in lower case, and IAM compares ARNs case-sensitively,
so the prefix is lower case. Names are at most 63 characters; the lengths below keep the longest
one (the longest stage name, two retry digits) inside that.
"""

from __future__ import annotations

import re

from spaceport_orchestration.stages import PIPELINE, JobKind
from spaceport_shared.errors import SpaceportError

DEFAULT_PREFIX = "spaceport"
MAX_JOB_NAME = 63  # SageMaker's limit for processing and training job names
MAX_JOB_ID = 40  # Step Functions allows 80 for execution names; the job name needs the room
MAX_RETRY_DIGITS = 2  # $$.State.RetryCount stays below the retriers' 9 attempts in all
MAX_PREFIX = MAX_JOB_NAME - MAX_JOB_ID - max(len(s.name) for s in PIPELINE) - MAX_RETRY_DIGITS - 3
JOB_ID = re.compile(rf"^[a-zA-Z0-9](-*[a-zA-Z0-9]){{0,{MAX_JOB_ID - 1}}}$")
PREFIX = re.compile(rf"^[a-z][a-z0-9-]{{0,{MAX_PREFIX - 1}}}$")


def check_job_id(job_id: str) -> str:
    if not JOB_ID.match(job_id):
        raise SpaceportError(
            f"The job id {job_id!r} is not valid; use 1-{MAX_JOB_ID} letters, digits and "
            "single hyphens."
        )
    return job_id


def check_prefix(prefix: str) -> str:
    if not PREFIX.match(prefix):
        raise ValueError(
            f"name_prefix {prefix!r} must be 1-{MAX_PREFIX} lower-case letters, digits or "
            "hyphens, starting with a letter (SageMaker job names and their ARNs carry it)"
        )
    return prefix


def job_name(prefix: str, job_id: str, stage: str, retry: int | str) -> str:
    """The SageMaker job name of one try of a stage (what the state machine builds)."""
    return f"{prefix}-{job_id}-{stage}-{retry}"


def job_name_template(prefix: str, stage: str) -> str:
    """`job_name` with `{}` for the job id and the retry count (a `States.Format` template)."""
    return job_name(prefix, "{}", stage, "{}")


def job_resource(prefix: str, kind: JobKind) -> str:
    """The ARN resource part (after the account) matching every job of a deployment."""
    return f"{kind}-job/{prefix.lower()}-*"
