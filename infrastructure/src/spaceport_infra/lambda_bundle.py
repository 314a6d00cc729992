"""The start-job Lambda's code: the orchestration package and the pure-Python shared package.

The Lambda runtime brings boto3; the handler must import nothing else (no numpy), which the
bundle check below keeps honest before any deploy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from spaceport_infra.config import REPO_ROOT

PACKAGES = {
    "spaceport_orchestration": REPO_ROOT / "orchestration" / "src" / "spaceport_orchestration",
    "spaceport_shared": REPO_ROOT / "shared" / "src" / "spaceport_shared",
}
# Never needed by a request handler: caches and tests.
_LEFT_OUT = ("__pycache__", "*.pyc", "tests")
HANDLER_FILE = Path("spaceport_orchestration") / "start_job_api.py"


def bundle_start_job(dest: Path) -> Path:
    """Copy the handler's packages into `dest` (created), without caches; return `dest`."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name, source in PACKAGES.items():
        if not source.is_dir():
            raise FileNotFoundError(f"{source} is missing; the start-job Lambda needs {name}")
        shutil.copytree(
            source,
            dest / name,
            ignore=shutil.ignore_patterns(*_LEFT_OUT),
            dirs_exist_ok=True,
        )
    if not (dest / HANDLER_FILE).is_file():
        raise FileNotFoundError(
            f"{HANDLER_FILE} is missing from the orchestration package; the Lambda has no handler"
        )
    return dest
