"""Cloud settings for `spaceport submit/status/definition`: environment first, then a config file.

    SPACEPORT_REGION (or AWS_REGION / AWS_DEFAULT_REGION)   region = "eu-west-1"
    SPACEPORT_BUCKET                                         bucket = "..."
    SPACEPORT_STATE_MACHINE_ARN                              state_machine_arn = "..."
    SPACEPORT_TOPIC_ARN                                      topic_arn = "..."
    SPACEPORT_ROLE_ARN                                       role_arn = "..."
    SPACEPORT_SFM_IMAGE / _TRAIN_IMAGE / _COMPRESS_IMAGE     sfm_image = "..." (etc.)

The file is TOML (`[spaceport]` table or top level), found at `--config`, `$SPACEPORT_CONFIG`,
or `~/.config/spaceport/config.toml`. Each command asks only for what it needs and names every
missing value in one message.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from spaceport_shared.errors import SpaceportError

DEFAULT_CONFIG = Path("~/.config/spaceport/config.toml")
ENV_NAMES = {
    "region": ("SPACEPORT_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
    "bucket": ("SPACEPORT_BUCKET",),
    "state_machine_arn": ("SPACEPORT_STATE_MACHINE_ARN",),
    "topic_arn": ("SPACEPORT_TOPIC_ARN",),
    "role_arn": ("SPACEPORT_ROLE_ARN",),
    "sfm_image": ("SPACEPORT_SFM_IMAGE",),
    "train_image": ("SPACEPORT_TRAIN_IMAGE",),
    "compress_image": ("SPACEPORT_COMPRESS_IMAGE",),
}
# Each cloud setting as the state machine's definition substitution.
SUBSTITUTION_NAMES = {
    "bucket": "ArtifactBucket",
    "role_arn": "SageMakerRoleArn",
    "topic_arn": "NotificationTopicArn",
    "sfm_image": "SfmImageUri",
    "train_image": "TrainImageUri",
    "compress_image": "CompressImageUri",
}


@dataclass(frozen=True)
class CloudConfig:
    region: str | None = None
    bucket: str | None = None
    state_machine_arn: str | None = None
    topic_arn: str | None = None
    role_arn: str | None = None
    sfm_image: str | None = None
    train_image: str | None = None
    compress_image: str | None = None
    source: str = "environment"

    def require(self, *names: str) -> CloudConfig:
        missing = [n for n in names if not getattr(self, n)]
        if missing:
            hints = "; ".join(
                f"{n} (set {ENV_NAMES[n][0]} or `{n} = ...` in the config file)" for n in missing
            )
            raise SpaceportError(f"Missing cloud settings: {hints}. Read from {self.source}.")
        return self

    def substitutions(self) -> dict[str, str]:
        return {
            SUBSTITUTION_NAMES[n]: getattr(self, n) for n in SUBSTITUTION_NAMES if getattr(self, n)
        }


def _config_file(explicit: Path | None, environ: Mapping[str, str]) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise SpaceportError(f"The config file {explicit} does not exist; check the path.")
        return explicit
    named = environ.get("SPACEPORT_CONFIG")
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise SpaceportError(f"SPACEPORT_CONFIG names {path}, which does not exist.")
        return path
    default = DEFAULT_CONFIG.expanduser()
    return default if default.is_file() else None


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> CloudConfig:
    environ = os.environ if environ is None else environ
    values: dict[str, str] = {}
    sources: list[str] = []
    file = _config_file(path, environ)
    if file is not None:
        try:
            data = tomllib.loads(file.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise SpaceportError(f"The config file {file} is not valid TOML: {exc}.") from exc
        table = data.get("spaceport", data)
        unknown = sorted(set(table) - set(ENV_NAMES))
        if unknown:
            raise SpaceportError(
                f"The config file {file} has an unknown key {unknown[0]!r}; "
                f"known keys: {', '.join(ENV_NAMES)}."
            )
        values.update({k: str(v) for k, v in table.items()})
        sources.append(str(file))
    for name, env_names in ENV_NAMES.items():
        for env_name in env_names:
            if environ.get(env_name):
                values[name] = environ[env_name]
                break
    sources.append("the environment")
    return CloudConfig(**values, source=" and ".join(sources))


def known_fields() -> Iterable[str]:
    return [f.name for f in fields(CloudConfig) if f.name != "source"]
