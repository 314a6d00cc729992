"""The execution input of the state machine, built and checked in one place.

    {
      "images": "s3://<bucket>/jobs/<job id>/images/",     # an S3 prefix inside the bucket
      "email": "user@example.com",
      "sfm_args": ["--ml-root", "/opt/ml", "--set", "max_image_size=1600"],
      "train_hyperparameters": {"steps": "7000"},          # every value a string
      "compress_args": ["--ml-root", "/opt/ml"]
    }

The execution name is the job id. Processing stages take their settings as ContainerArguments
(`--set key=value`), which SageMaker requires to be non-empty, so the contract root comes first;
training takes them as hyperparameters (`stages.StageInfo.job_settings`). Settings are checked
here only for shape and for the cost bounds the public API enforces (`StageInfo.api_limits`);
the stage itself validates each value and fails fast with a message naming the key.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from spaceport_orchestration.stages import BY_NAME, PIPELINE, STAGES
from spaceport_shared.errors import SpaceportError

EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
SETTING_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_SETTING_CHARS = 256
MAX_SETTINGS_PER_STAGE = 40


def new_job_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"sp-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def check_email(address: str) -> str:
    if not isinstance(address, str) or not EMAIL.match(address.strip()):
        raise SpaceportError(f"The email address {address!r} is not valid; give name@domain.")
    return address.strip()


def parse_s3_uri(uri: str) -> tuple[str, str]:
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise SpaceportError(f"{uri!r} is not an S3 location; give s3://bucket/prefix/.")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket:
        raise SpaceportError(f"{uri!r} names no bucket; give s3://bucket/prefix/.")
    return bucket, key


_JOB_IMAGES = re.compile(r"^jobs/[^/]+/images/")


def check_images_location(uri: str, bucket: str) -> str:
    """The images must be a prefix inside the pipeline's bucket (its roles read nothing else)."""
    found_bucket, key = parse_s3_uri(uri)
    if found_bucket != bucket:
        raise SpaceportError(
            f"The images location {uri} is outside the bucket {bucket}; upload them there."
        )
    if not key or ".." in key.split("/"):
        raise SpaceportError(f"The images location {uri} needs a folder (prefix) in {bucket}.")
    # the SageMaker role reads photos only there (infrastructure/), so refuse anything else now
    if not (key.startswith("uploads/") or _JOB_IMAGES.match(key)):
        raise SpaceportError(
            f"The images location {uri} is not under uploads/ in {bucket}; "
            f"upload the photos to s3://{bucket}/uploads/<folder>/ and submit that."
        )
    return uri


def check_settings(settings: Any) -> dict[str, dict[str, str]]:
    """`{"sfm": {...}, "train": {...}, ...}` (every stage), values as strings, within the API
    limits."""
    if settings is None:
        return {stage: {} for stage in STAGES}
    names = ", ".join(STAGES)
    if not isinstance(settings, Mapping):
        raise SpaceportError(f"settings must be an object keyed by stage ({names}).")
    unknown = sorted(set(settings) - set(STAGES))
    if unknown:
        raise SpaceportError(f"settings has an unknown stage {unknown[0]!r}; use one of {names}.")
    checked: dict[str, dict[str, str]] = {}
    for stage in STAGES:
        values = settings.get(stage) or {}
        if not isinstance(values, Mapping):
            raise SpaceportError(f"settings.{stage} must be an object of key: value.")
        if len(values) > MAX_SETTINGS_PER_STAGE:
            raise SpaceportError(f"settings.{stage} has more than {MAX_SETTINGS_PER_STAGE} keys.")
        checked[stage] = {}
        for key, value in values.items():
            if not isinstance(key, str) or not SETTING_KEY.match(key):
                raise SpaceportError(
                    f"settings.{stage} key {key!r} is not a setting name (lowercase, digits, _)."
                )
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, int | float | str):
                text = str(value)
            else:
                raise SpaceportError(f"settings.{stage}.{key} must be a string or a number.")
            if len(text) > MAX_SETTING_CHARS:
                raise SpaceportError(
                    f"settings.{stage}.{key} is longer than {MAX_SETTING_CHARS} characters."
                )
            _check_limit(stage, key, text)
            checked[stage][key] = text
    return checked


def _check_limit(stage: str, key: str, text: str) -> None:
    bounds = BY_NAME[stage].api_limits.get(key)
    if bounds is None:
        return
    try:
        number = float(text)
    except ValueError:
        raise SpaceportError(f"settings.{stage}.{key} must be a number, not {text!r}.") from None
    low, high = bounds
    if not low <= number <= high:
        raise SpaceportError(
            f"settings.{stage}.{key} = {text} is outside {low:g}..{high:g}; pick a value inside."
        )


def build_execution_input(
    images_uri: str, email: str, settings: Mapping[str, Mapping[str, str]] | None = None
) -> dict[str, Any]:
    checked = check_settings(settings)
    return {
        "images": images_uri,
        "email": check_email(email),
        **{info.settings_field: info.job_settings(checked[info.name]) for info in PIPELINE},
    }
