"""The SageMaker container contract: where a job finds its inputs and leaves its outputs.

Processing jobs (sfm, compress) read `/opt/ml/processing/input` and write
`/opt/ml/processing/output`; their failure text goes to `/opt/ml/output/message`. Training jobs
(train) read channels under `/opt/ml/input/data/<channel>` and string hyperparameters from
`/opt/ml/input/config/hyperparameters.json`, write the model to `/opt/ml/model` (SageMaker packs it
as `model.tar.gz`), extra outputs to `/opt/ml/output/data`, checkpoints to `/opt/ml/checkpoints`,
and failure text to `/opt/ml/output/failure`. SageMaker shows the first 1 KB of a failure file.

The root `/opt/ml` moves with the environment variable `SPACEPORT_ML_ROOT` (or `--ml-root`), so
the same entrypoint runs in tests and on a laptop against a temporary folder.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from spaceport_shared.errors import SpaceportError
from spaceport_shared.report import REPORT_NAME

ML_ROOT_ENV = "SPACEPORT_ML_ROOT"
DEFAULT_ML_ROOT = Path("/opt/ml")
FAILURE_TEXT_LIMIT = 1024  # bytes SageMaker shows as FailureReason / ExitMessage
# Files the stages hand on by name (the orchestration refers to them too).
SOG_NAME = "scene.sog"  # compress: the PlayCanvas SOG bundle
GEOREFERENCE_NAME = "georeference.json"  # sfm: the ENU frame's geographic origin and fit
FLIGHT_NAME = "flight.json"  # sfm: cameras, GPS and points for the results page
IMAGE_NAMES_NAME = "image_names.json"  # sfm: {internal image name: the user's file name}
_PARTIAL = ".partial-"


def ml_root(override: Path | str | None = None) -> Path:
    """The `/opt/ml` root: the override, else `$SPACEPORT_ML_ROOT`, else `/opt/ml`."""
    if override:
        return Path(override)
    env = os.environ.get(ML_ROOT_ENV)
    return Path(env) if env else DEFAULT_ML_ROOT


@dataclass(frozen=True)
class ProcessingPaths:
    root: Path

    def input(self, name: str = "input") -> Path:
        return self.root / "processing" / name

    def output(self, name: str = "output") -> Path:
        return self.root / "processing" / name

    @property
    def failure_file(self) -> Path:
        return self.root / "output" / "message"


@dataclass(frozen=True)
class TrainingPaths:
    root: Path

    def channel(self, name: str = "training") -> Path:
        return self.root / "input" / "data" / name

    @property
    def hyperparameters_file(self) -> Path:
        return self.root / "input" / "config" / "hyperparameters.json"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output_data_dir(self) -> Path:
        return self.root / "output" / "data"

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / "checkpoints"

    @property
    def failure_file(self) -> Path:
        return self.root / "output" / "failure"


def read_hyperparameters(path: Path) -> dict[str, str]:
    """SageMaker's hyperparameters.json (every value a string); absent file → no settings."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SpaceportError(
            f"The hyperparameters file {path} is not valid JSON ({exc}); pass an object of strings."
        ) from exc
    if not isinstance(data, dict):
        raise SpaceportError(f"The hyperparameters file {path} must hold a JSON object.")
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}


def write_failure(path: Path, message: str) -> None:
    """The short reason SageMaker shows the user: the first 1 KB, cut on a character boundary."""
    data = message.strip().encode("utf-8")[:FAILURE_TEXT_LIMIT]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.decode("utf-8", errors="ignore").encode("utf-8"))


def is_complete(folder: Path) -> bool:
    """An output folder is complete when its report.json exists (written last)."""
    return (Path(folder) / REPORT_NAME).is_file()


def _clear_partials(parent: Path, name: str) -> None:
    if not parent.is_dir():
        return
    for stale in parent.glob(f".{name}{_PARTIAL}*"):
        shutil.rmtree(stale, ignore_errors=True)


def _move_children(src: Path, dest: Path) -> None:
    """Fill `dest` from `src`, report.json last, so a kill in between leaves no report."""
    for old in dest.iterdir():
        if old.name.startswith(_PARTIAL) or old == src:
            continue
        shutil.rmtree(old) if old.is_dir() and not old.is_symlink() else old.unlink()
    children = sorted(src.iterdir(), key=lambda p: p.name == REPORT_NAME)
    for child in children:
        os.replace(child, dest / child.name)
    src.rmdir()


@contextmanager
def atomic_output(dest: Path) -> Iterator[Path]:
    """Yield an empty folder to write into; on success it becomes `dest`, on failure it is gone.

    When `dest` does not exist, the work folder is a hidden sibling renamed onto `dest` at the
    end, so a killed run leaves no `dest` at all. When `dest` already exists (a SageMaker mount
    such as `/opt/ml/model`, or an earlier output being redone), the work folder is hidden inside
    it and its files replace the old ones at the end, `report.json` last.
    """
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise SpaceportError(f"The output {dest} is a file; give a folder path instead.")
    if dest.is_dir():
        _clear_partials_inside(dest)
        work = dest / f"{_PARTIAL}{uuid.uuid4().hex[:8]}"
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        _clear_partials(dest.parent, dest.name)
        work = dest.parent / f".{dest.name}{_PARTIAL}{uuid.uuid4().hex[:8]}"
    work.mkdir()
    try:
        yield work
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    if work.parent == dest:
        _move_children(work, dest)
    else:
        os.replace(work, dest)


def _clear_partials_inside(dest: Path) -> None:
    for stale in dest.glob(f"{_PARTIAL}*"):
        shutil.rmtree(stale, ignore_errors=True)
