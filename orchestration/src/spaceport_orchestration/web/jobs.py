"""`spaceport serve`'s jobs: folders on disk, run one at a time by a worker thread.

    JOBS/<id>/job.json   the job's state (queued, running, done, failed), settings, times, error
    JOBS/<id>/images/    the checked upload
    JOBS/<id>/out/       the run (`spaceport run --out`), its page at out/site/index.html

A restart finds every job in JOBS again; one that was queued or running when the server
stopped goes back into the queue (the local runner keeps the stages it finished). Jobs run in
the order they were made, one at a time: two uploads queue, they do not share the machine.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spaceport_orchestration.local_run import Plan, run_local
from spaceport_orchestration.results import publish_local
from spaceport_orchestration.stages import STAGES
from spaceport_shared.errors import SpaceportError

JOB_FILE = "job.json"
LOG_TAIL = 30


@dataclass
class Progress:
    """What the page shows while a job runs (kept in memory, the stage logs are on disk)."""

    stage: str | None = None
    step: int | None = None
    total_steps: int | None = None
    started_at: float | None = None  # time.time() when the stage started
    stages: dict[str, str] = field(default_factory=dict)  # stage -> pending/running/done/...
    lines: deque = field(default_factory=lambda: deque(maxlen=LOG_TAIL))

    def eta_s(self) -> float | None:
        if not (self.step and self.total_steps and self.started_at):
            return None
        elapsed = time.time() - self.started_at
        return round(elapsed / self.step * max(self.total_steps - self.step, 0), 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "step": self.step,
            "total_steps": self.total_steps,
            "eta_s": self.eta_s(),
            "stages": dict(self.stages),
            "log_tail": list(self.lines),
        }

    # the local runner's ProgressView
    def stage_pending(self, stage: str, note: str) -> None:
        self.stages[stage] = "done earlier" if note == Plan.KEEP.value else "pending"

    def stage_started(self, stage: str, total_steps: int | None) -> None:
        self.stage, self.step, self.total_steps = stage, None, total_steps
        self.started_at = time.time()
        self.stages[stage] = "running"

    def stage_line(self, stage: str, line: str, metrics: dict[str, float] | None) -> None:
        self.lines.append(f"[{stage}] {line}")
        if metrics and "step" in metrics:
            self.step = int(metrics["step"])

    def stage_done(self, stage: str, status: str, seconds: float | None) -> None:
        self.stages[stage] = status


@dataclass
class Job:
    id: str
    name: str
    settings: dict[str, dict[str, str]]
    photos: int
    state: str = "queued"  # queued, running, done, failed
    created: str = ""
    started: str | None = None
    finished: str | None = None
    error: str | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_job_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


class JobQueue:
    def __init__(
        self,
        root: Path,
        commands: Mapping[str, Sequence[str]] | None = None,
        on_change: Callable[[Job], None] | None = None,
    ):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.commands = commands
        self.on_change = on_change
        self._lock = threading.Condition()
        self._jobs: dict[str, Job] = {}
        self._progress: dict[str, Progress] = {}
        self._queue: deque[str] = deque()
        self._thread: threading.Thread | None = None
        self._stopping = False
        for path in sorted(self.root.glob(f"*/{JOB_FILE}")):
            job = Job(**json.loads(path.read_text()))
            if job.state in ("queued", "running"):  # the server stopped under it
                job.state = "queued"
                self._save(job)
            self._jobs[job.id] = job
        for job in sorted(self._jobs.values(), key=lambda j: j.created):
            if job.state == "queued":
                self._queue.append(job.id)

    # ---- paths and state ---------------------------------------------------------------------

    def folder(self, job_id: str) -> Path:
        return self.root / job_id

    def images(self, job_id: str) -> Path:
        return self.folder(job_id) / "images"

    def out(self, job_id: str) -> Path:
        return self.folder(job_id) / "out"

    def _save(self, job: Job) -> None:
        path = self.folder(job.id) / JOB_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(job), indent=2) + "\n")
        tmp.replace(path)  # a reader never sees half a file

    def jobs(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created, reverse=True)

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def progress(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            progress = self._progress.get(job_id)
            return progress.as_dict() if progress else None

    def add(self, job_id: str, name: str, settings: dict[str, dict[str, str]], photos: int) -> Job:
        """Queue a job whose checked photos are already in `images(job_id)`."""
        job = Job(job_id, name, settings, photos, created=_now())
        self._save(job)
        with self._lock:
            self._jobs[job.id] = job
            self._queue.append(job.id)
            self._lock.notify_all()
        return job

    # ---- the worker --------------------------------------------------------------------------

    def start(self) -> JobQueue:
        self._thread = threading.Thread(target=self._work, name="spaceport-jobs", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        if self._thread:
            self._thread.join(timeout)

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._queue and all(j.state != "running" for j in self._jobs.values()):
                    return True
            time.sleep(0.05)
        return False

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._stopping:
                    self._lock.wait()
                if self._stopping:
                    return
                job = self._jobs[self._queue.popleft()]
                job.state, job.started = "running", _now()
                self._progress[job.id] = Progress(stages=dict.fromkeys(STAGES, "pending"))
                self._save(job)
            self._run(job)

    def _run(self, job: Job) -> None:
        progress = self._progress[job.id]
        try:
            options: dict[str, Any] = {"settings": job.settings, "view": progress}
            if self.commands is not None:
                options["commands"] = self.commands
            summary = run_local(self.images(job.id), self.out(job.id), **options)
            publish_local(self.out(job.id), summary)
            state, error = "done", None
        except SpaceportError as exc:
            state, error = "failed", str(exc)
        except Exception as exc:  # a bug: the job fails, the server goes on
            state, error = "failed", f"internal error: {exc!r}"
        with self._lock:
            job.state, job.error, job.finished = state, error, _now()
            self._save(job)
        if self.on_change:
            self.on_change(job)
