"""One log line format for metrics, readable by SageMaker `MetricDefinitions`.

A line looks like

    metric step=1200 loss=0.0412 psnr=24.31 gaussians=183224 steps_per_s=3.2

SageMaker reads a metric from the job's logs with a regex whose first group is the value. For a
name `psnr` the regex is

    metric .*\\bpsnr=([-+0-9.eE]+|nan|inf)

(`metric_regex("psnr")`), and `metric_definitions(["loss", "psnr"])` gives the list that goes into
`AlgorithmSpecification.MetricDefinitions`. Names are plain identifiers so that `\\b` anchors them.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from typing import TextIO

PREFIX = "metric"
# What the training stage logs as metric lines (and SageMaker's MetricDefinitions read).
TRAINING_METRICS = ("step", "loss", "psnr", "ssim", "gaussians", "steps_per_s")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_VALUE = r"([-+0-9.eE]+|nan|inf)"


def format_metrics(values: dict[str, float]) -> str:
    parts = []
    for name, value in values.items():
        if not _NAME.match(name):
            raise ValueError(f"metric name {name!r} is not a plain identifier")
        number = float(value)
        text = repr(int(number)) if number.is_integer() else f"{number:.6g}"
        parts.append(f"{name}={text}")
    return f"{PREFIX} " + " ".join(parts)


def log_metrics(stream: TextIO | None = None, **values: float) -> str:
    """Print one metric line (flushed, so SageMaker and the local runner see it at once)."""
    line = format_metrics(values)
    out = stream or sys.stdout
    print(line, file=out, flush=True)
    return line


def metric_regex(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"metric name {name!r} is not a plain identifier")
    return rf"{PREFIX} .*\b{name}={_VALUE}"


def metric_definitions(names: Iterable[str]) -> list[dict[str, str]]:
    return [{"Name": name, "Regex": metric_regex(name)} for name in names]


def parse_metric_line(line: str) -> dict[str, float] | None:
    """The values of a metric line, or None for any other line (used by the local runner)."""
    line = line.strip()
    if not line.startswith(PREFIX + " "):
        return None
    values: dict[str, float] = {}
    for part in line[len(PREFIX) + 1 :].split():
        name, sep, text = part.partition("=")
        if not sep or not _NAME.match(name):
            return None
        try:
            values[name] = float(text)
        except ValueError:
            return None
    return values or None
