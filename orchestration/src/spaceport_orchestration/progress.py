"""What `spaceport run` shows while the stages work, and the summary at the end (rich).

On a terminal: a live table, one row per stage (state, elapsed time, training step, last log
line). Elsewhere (make demo in CI, a pipe): one plain line per event, training steps at most every
10 seconds, so logs stay short.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from rich.console import Console
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table

from spaceport_orchestration.local_run import RunSummary
from spaceport_orchestration.stages import BY_NAME, STAGES
from spaceport_shared.contract import SOG_NAME
from spaceport_shared.metrics import ETA, PROGRESS

# The stages' logging prefix ("2026-01-01 12:00:00,123 INFO spaceport: "), dropped for display.
LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d [\d:,.]+ [A-Z]+ [\w.]+: ")


@dataclass
class _Row:
    state: str = "waiting"
    note: str = ""
    started: float | None = None
    seconds: float | None = None
    step: int | None = None
    total: int | None = None
    fraction: float | None = None  # the stage's own `progress` metric (0-1)
    eta_s: float | None = None  # and its `eta_s`
    last_line: str = ""


def _progress_text(row: _Row) -> str:
    """'step 1200/7000 17% eta 5m12.0s' from what the stage's metric lines said."""
    if row.step is None:
        return ""
    text = f"step {row.step}" + (f"/{row.total}" if row.total else "")
    if row.fraction is not None:
        text += f" {row.fraction:.0%}"
    if row.eta_s is not None:
        text += f" eta {_duration(row.eta_s)}"
    return text


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:04.1f}s" if minutes else f"{rest:.1f}s"


class RichProgress:
    """A `ProgressView` for `LocalRunner`; use as a context manager."""

    def __init__(self, console: Console | None = None, plain_interval_s: float = 10.0):
        self.console = console or Console()
        self.rows = {stage: _Row() for stage in STAGES}
        self.live: Live | None = None
        self.plain_interval_s = plain_interval_s
        self._last_plain = 0.0

    def __enter__(self) -> RichProgress:
        if self.console.is_terminal:
            # get_renderable: the table is rebuilt on each refresh, so elapsed times tick.
            self.live = Live(console=self.console, refresh_per_second=4, get_renderable=self._table)
            self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.live:
            self.live.refresh()
            self.live.__exit__(*exc)

    def _table(self) -> Table:
        table = Table(title="spaceport run", expand=False)
        for column in ("stage", "state", "time", "", "progress", "last output"):
            table.add_column(column, overflow="fold" if column == "last output" else "ellipsis")
        for stage, row in self.rows.items():
            elapsed = row.seconds
            if row.state == "running" and row.started is not None:
                elapsed = time.perf_counter() - row.started
            progress = _progress_text(row)
            style = {"failed": "red", "done": "green", "running": "cyan"}.get(row.state, "")
            table.add_row(
                BY_NAME[stage].title,
                f"[{style}]{row.state}[/]" if style else row.state,
                _duration(elapsed),
                ProgressBar(total=1.0, completed=row.fraction, width=16) if row.fraction else "",
                progress,
                (row.last_line or row.note)[:90],
            )
        return table

    def _refresh(self) -> None:
        if self.live:
            self.live.refresh()

    def _plain(self, text: str) -> None:
        if not self.live:
            self.console.print(text, highlight=False, markup=False)

    # ---- ProgressView ------------------------------------------------------------------------

    def stage_pending(self, stage: str, note: str) -> None:
        self.rows[stage].note = note
        self._refresh()

    def stage_started(self, stage: str, total_steps: int | None) -> None:
        row = self.rows[stage]
        row.state, row.started, row.total = "running", time.perf_counter(), total_steps
        self._plain(f"[{stage}] {BY_NAME[stage].title}: started ({row.note})")
        self._refresh()

    def stage_line(self, stage: str, line: str, metrics: dict[str, float] | None) -> None:
        row = self.rows[stage]
        if line.strip():
            row.last_line = LOG_PREFIX.sub("", line.strip())
        if metrics and PROGRESS in metrics:
            row.fraction = metrics[PROGRESS]
            row.eta_s = metrics.get(ETA)
        if metrics and "step" in metrics:
            row.step = int(metrics["step"])
            now = time.perf_counter()
            if now - self._last_plain >= self.plain_interval_s:
                self._last_plain = now
                values = " ".join(
                    f"{k}={v:g}" for k, v in metrics.items() if k not in ("step", PROGRESS, ETA)
                )
                self._plain(f"[{stage}] {_progress_text(row)} {values}")
        self._refresh()

    def stage_done(self, stage: str, status: str, seconds: float | None) -> None:
        row = self.rows[stage]
        row.state, row.seconds = status, seconds
        if status == "skipped":
            self._plain(f"[{stage}] {BY_NAME[stage].title}: complete output found, skipped")
        else:
            self._plain(f"[{stage}] {BY_NAME[stage].title}: {status} in {_duration(seconds)}")
        self._refresh()


def _number(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def print_summary(summary: RunSummary, console: Console | None = None) -> None:
    """Plain `name: value` lines, so paths stay whole for copying."""
    console = console or Console()
    registered, total = summary.images_registered
    # The run's top level holds scene.sog (results.py) once the run is complete.
    top_sog = summary.out / SOG_NAME
    rows = [
        ("Gaussian splats (.ply)", str(summary.ply or "missing")),
        (
            "compressed for the web (.sog)",
            str(top_sog if top_sog.is_file() else summary.sog or "missing"),
        ),
        ("images registered", f"{_number(registered, '.0f')} of {_number(total, '.0f')}"),
        ("held-out PSNR", f"{_number(summary.psnr, '.2f')} dB"),
        ("size ratio (PLY / SOG)", f"{_number(summary.ratio, '.1f')}x"),
    ]
    for stage in STAGES:
        result = summary.results.get(stage)
        if result is not None:
            note = " (earlier run)" if result.status == "skipped" else ""
            rows.append((f"time, {BY_NAME[stage].title}", _duration(result.seconds) + note))
    width = max(len(name) for name, _ in rows) + 1
    console.print("Spaceport result", style="bold", highlight=False)
    for name, value in rows:
        console.print(
            f"  {name + ':':<{width}} {value}", soft_wrap=True, highlight=False, markup=False
        )
