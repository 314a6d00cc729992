"""`report.json`: what a stage read, wrote, measured and how long each step took.

The orchestration, the local runner's summary and the notification email read it. It is written
last, so its presence marks an output folder as complete.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPORT_NAME = "report.json"


@dataclass
class FileEntry:
    path: str  # relative to the folder it was listed from
    bytes: int


@dataclass
class Report:
    stage: str
    version: str
    inputs: list[FileEntry] = field(default_factory=list)
    outputs: list[FileEntry] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # stage-specific, JSON-serialisable

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time a step; repeated steps add up."""
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            self.timings_s[name] = round(self.timings_s.get(name, 0.0) + elapsed, 3)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, folder: Path) -> Path:
        path = Path(folder) / REPORT_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n")
        return path


def list_files(root: Path) -> list[FileEntry]:
    """Every file below `root` (or `root` itself if it is a file) with its size."""
    root = Path(root)
    if root.is_file():
        return [FileEntry(path=root.name, bytes=root.stat().st_size)]
    return [
        FileEntry(path=p.relative_to(root).as_posix(), bytes=p.stat().st_size)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != REPORT_NAME
    ]


def read_report(folder_or_file: Path) -> Report:
    path = Path(folder_or_file)
    if path.is_dir():
        path = path / REPORT_NAME
    data = json.loads(path.read_text())
    data["inputs"] = [FileEntry(**e) for e in data.get("inputs", [])]
    data["outputs"] = [FileEntry(**e) for e in data.get("outputs", [])]
    return Report(**data)
