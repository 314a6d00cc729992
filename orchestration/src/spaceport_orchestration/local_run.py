"""`spaceport run`: the three stages on this machine, through the same container contract.

Each stage runs as its console script in container mode with `SPACEPORT_ML_ROOT=OUT/<stage>`, so
it sees exactly the `/opt/ml` tree SageMaker would give it:

    OUT/sfm/processing/input/         the photos (hard links, or copies across file systems)
    OUT/sfm/processing/output/        sparse/0, images/, report.json
    OUT/train/input/data/training  -> ../../../sfm/processing/output
    OUT/train/input/config/hyperparameters.json
    OUT/train/model/                  scene.ply, report.json    (+ output/data, checkpoints/)
    OUT/compress/processing/input/    the trained .ply
    OUT/compress/processing/output/   scene.sog, report.json

A stage whose output holds `report.json` (written last) is skipped unless `redo` is set, its
settings changed, or a stage before it ran again. Each stage's log is `OUT/<stage>/log.txt`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

from spaceport_orchestration.stages import BY_NAME, STAGES, set_arguments, upstream
from spaceport_shared.contract import ML_ROOT_ENV, ProcessingPaths, TrainingPaths, is_complete
from spaceport_shared.errors import SpaceportError
from spaceport_shared.metrics import parse_metric_line
from spaceport_shared.report import REPORT_NAME

SETTINGS_STAMP = "settings.json"


class Plan(Enum):
    """What to do with a stage, and the note the progress view shows for it."""

    KEEP = "done earlier: skipping"
    REDO = "redo"
    UPSTREAM_RAN = "an earlier stage ran again"
    UNFINISHED = "no complete output yet"
    SETTINGS_CHANGED = "its settings changed"

    @property
    def runs(self) -> bool:
        return self is not Plan.KEEP

    @property
    def resumes(self) -> bool:
        """Keep the stage's checkpoints: its last run never finished, so it continues."""
        return self is Plan.UNFINISHED


def console_script(name: str) -> str:
    """The stage's console script: beside this Python first (a venv not on PATH), then PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise SpaceportError(f"The command {name} is not installed; run `make setup` first.")
    return found


def default_commands() -> dict[str, list[str]]:
    return {stage: [console_script(BY_NAME[stage].command)] for stage in STAGES}


class StageFailedError(SpaceportError):
    def __init__(self, stage: str, reason: str, log: Path):
        super().__init__(f"The {stage} stage failed: {reason} (log: {log})")
        self.stage, self.reason, self.log = stage, reason, log


class ProgressView(Protocol):
    def stage_pending(self, stage: str, note: str) -> None: ...
    def stage_started(self, stage: str, total_steps: int | None) -> None: ...
    def stage_line(self, stage: str, line: str, metrics: dict[str, float] | None) -> None: ...
    def stage_done(self, stage: str, status: str, seconds: float | None) -> None: ...


@dataclass
class StageResult:
    stage: str
    status: str  # "ran", "skipped"
    seconds: float | None  # this run's wall time; for a skipped stage the report's total
    report: dict[str, Any]


@dataclass
class RunSummary:
    out: Path
    results: dict[str, StageResult] = field(default_factory=dict)

    def _metric(self, stage: str, name: str) -> float | None:
        result = self.results.get(stage)
        return result.report.get("metrics", {}).get(name) if result else None

    @property
    def ply(self) -> Path | None:
        return _first(self.out / "train" / "model", "*.ply")

    @property
    def sog(self) -> Path | None:
        return _first(self.out / "compress" / "processing" / "output", "*.sog")

    @property
    def images_registered(self) -> tuple[float | None, float | None]:
        return self._metric("sfm", "images_registered"), self._metric("sfm", "images_total")

    @property
    def psnr(self) -> float | None:
        return self._metric("train", "psnr")

    @property
    def ratio(self) -> float | None:
        return self._metric("compress", "ratio")


def _first(folder: Path, pattern: str) -> Path | None:
    found = sorted(folder.glob(pattern)) if folder.is_dir() else []
    return found[0] if found else None


@dataclass(frozen=True)
class StageLayout:
    stage: str
    root: Path

    @property
    def kind(self) -> str:
        return BY_NAME[self.stage].kind

    @property
    def output(self) -> Path:
        if self.kind == "training":
            return TrainingPaths(self.root).model_dir
        return ProcessingPaths(self.root).output()

    @property
    def failure_file(self) -> Path:
        paths = TrainingPaths(self.root) if self.kind == "training" else ProcessingPaths(self.root)
        return paths.failure_file

    @property
    def log(self) -> Path:
        return self.root / "log.txt"


def _link_or_copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def _reset(folder: Path) -> None:
    if folder.is_symlink() or folder.is_file():
        folder.unlink()
    elif folder.is_dir():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


class LocalRunner:
    def __init__(
        self,
        images: Path,
        out: Path,
        settings: Mapping[str, Mapping[str, str]] | None = None,
        redo: bool = False,
        commands: Mapping[str, Sequence[str]] | None = None,
        view: ProgressView | None = None,
        env: Mapping[str, str] | None = None,
    ):
        self.images = Path(images)
        self.out = Path(out)
        self.settings = {s: dict((settings or {}).get(s, {})) for s in STAGES}
        self.redo = redo
        self.commands = {s: list(c) for s, c in (commands or default_commands()).items()}
        self.view = view
        self.env = dict(env or {})
        self.layouts = {s: StageLayout(s, self.out / s) for s in STAGES}

    # ---- deciding what to run ----------------------------------------------------------------

    def _stamp(self, stage: str) -> Path:
        return self.layouts[stage].root / SETTINGS_STAMP

    def _plan(self, stage: str, upstream_ran: bool) -> Plan:
        layout = self.layouts[stage]
        if self.redo:
            return Plan.REDO
        if upstream_ran:
            return Plan.UPSTREAM_RAN
        if not is_complete(layout.output):
            return Plan.UNFINISHED
        stamp = self._stamp(stage)
        before = json.loads(stamp.read_text()) if stamp.exists() else None
        if before != self.settings[stage]:
            return Plan.SETTINGS_CHANGED
        return Plan.KEEP

    # ---- preparing each stage's /opt/ml tree -------------------------------------------------

    def _source(self, stage: str) -> Path:
        """What the stage reads: the photos, or the output of the stage before it."""
        before = upstream(stage)
        return self.images if before is None else self.layouts[before.name].output

    def _fill_input(self, stage: str, folder: Path) -> None:
        """Link the stage's input into `folder` (a processing job's input mount)."""
        source, pattern = self._source(stage), BY_NAME[stage].local_input
        if pattern is not None:
            found = _first(source, pattern)
            if found is None:
                before = upstream(stage)
                raise SpaceportError(
                    f"The {before.name if before else 'input'} stage left no {pattern} in "
                    f"{source}; run with --redo."
                )
            _link_or_copy(found, folder / found.name)
        elif source.is_file():
            _link_or_copy(source, folder / source.name)
        else:
            for path in sorted(source.rglob("*")):
                if path.is_file():
                    _link_or_copy(path, folder / path.relative_to(source))

    def _prepare(self, stage: str, resume: bool) -> list[str]:
        layout = self.layouts[stage]
        root = layout.root
        root.mkdir(parents=True, exist_ok=True)
        for stale in (layout.failure_file, layout.log):
            stale.unlink(missing_ok=True)
        args = [*self.commands[stage]]
        if layout.kind == "processing":
            paths = ProcessingPaths(root)
            _reset(paths.input())
            self._fill_input(stage, paths.input())
            _reset(paths.output())
            return args + set_arguments(self.settings[stage])
        paths = TrainingPaths(root)
        channel = paths.channel()
        channel.parent.mkdir(parents=True, exist_ok=True)
        if channel.is_symlink() or channel.exists():
            channel.unlink() if channel.is_symlink() else shutil.rmtree(channel)
        channel.symlink_to(
            os.path.relpath(self._source(stage), channel.parent), target_is_directory=True
        )
        paths.hyperparameters_file.parent.mkdir(parents=True, exist_ok=True)
        paths.hyperparameters_file.write_text(json.dumps(self.settings[stage], indent=2))
        _reset(paths.model_dir)
        _reset(paths.output_data_dir)
        if not resume:  # an interrupted run keeps its checkpoints and continues
            _reset(paths.checkpoints_dir)
        paths.checkpoints_dir.mkdir(parents=True, exist_ok=True)
        return [*args, "train"]

    # ---- running -----------------------------------------------------------------------------

    def _execute(self, stage: str, argv: list[str], total_steps: int | None) -> float:
        layout = self.layouts[stage]
        env = {**os.environ, **self.env, ML_ROOT_ENV: str(layout.root), "PYTHONUNBUFFERED": "1"}
        started = time.perf_counter()
        if self.view:
            self.view.stage_started(stage, total_steps)
        with open(layout.log, "w") as log:
            process = subprocess.Popen(
                argv,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
            )
            try:
                assert process.stdout is not None
                for line in process.stdout:
                    log.write(line)
                    log.flush()
                    if self.view:
                        self.view.stage_line(stage, line.rstrip(), parse_metric_line(line))
                code = process.wait()
            except BaseException:
                process.send_signal(signal.SIGTERM)  # the stage checkpoints and stops cleanly
                try:
                    process.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    process.kill()
                raise
        seconds = time.perf_counter() - started
        if code != 0:
            reason = (
                layout.failure_file.read_text().strip()
                if layout.failure_file.exists()
                else f"exit code {code}"
            )
            if self.view:
                self.view.stage_done(stage, "failed", seconds)
            raise StageFailedError(stage, reason, layout.log)
        if not is_complete(layout.output):
            raise StageFailedError(stage, "it exited 0 but wrote no report.json", layout.log)
        return seconds

    def run(self) -> RunSummary:
        if not self.images.exists():
            raise SpaceportError(f"The images {self.images} do not exist; give a folder of photos.")
        summary = RunSummary(self.out)
        upstream_ran = False
        plan: dict[str, Plan] = {}
        for stage in STAGES:
            plan[stage] = self._plan(stage, upstream_ran=upstream_ran)
            upstream_ran = upstream_ran or plan[stage].runs
        if self.view:
            for stage in STAGES:
                self.view.stage_pending(stage, plan[stage].value)
        for stage in STAGES:
            layout = self.layouts[stage]
            if not plan[stage].runs:
                report = json.loads((layout.output / REPORT_NAME).read_text())
                seconds = report.get("timings_s", {}).get("total")
                summary.results[stage] = StageResult(stage, "skipped", seconds, report)
                if self.view:
                    self.view.stage_done(stage, "skipped", seconds)
                continue
            argv = self._prepare(stage, resume=plan[stage].resumes)
            steps = self.settings[stage].get("steps") if layout.kind == "training" else None
            seconds = self._execute(stage, argv, int(steps) if steps and steps.isdigit() else None)
            self._stamp(stage).write_text(json.dumps(self.settings[stage]))
            report = json.loads((layout.output / REPORT_NAME).read_text())
            summary.results[stage] = StageResult(stage, "ran", seconds, report)
            if self.view:
                self.view.stage_done(stage, "done", seconds)
        return summary


def run_local(images: Path, out: Path, **options: Any) -> RunSummary:
    """`LocalRunner(images, out, **options).run()`."""
    return LocalRunner(images, out, **options).run()
