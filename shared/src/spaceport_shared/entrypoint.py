"""The console script of every stage: a thin adapter from the command line or `/opt/ml` to `run`.

    spaceport-sfm                          # container mode: paths from the /opt/ml contract
    spaceport-train train                  # how SageMaker starts a training image
    spaceport-sfm --input IMAGES --output OUT [--set key=value ...]   # local mode

Container mode takes settings from `--set` (a processing job's ContainerArguments) and, for
training, from `hyperparameters.json`. Either way the settings are parsed once here, the stage's
`run` writes into a folder that becomes the output only when it succeeds, and `report.json` is
written last. Any error gives a non-zero exit, one sentence on stderr and in the failure file,
and the traceback in the log for errors that are not the user's.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from spaceport_shared.contract import (
    ProcessingPaths,
    TrainingPaths,
    atomic_output,
    ml_root,
    read_hyperparameters,
    write_failure,
)
from spaceport_shared.errors import SpaceportError, StageTerminatedError
from spaceport_shared.report import Report, list_files
from spaceport_shared.settings import parse_assignments, parse_settings, settings_help

log = logging.getLogger("spaceport")


@dataclass(frozen=True)
class StageSpec:
    name: str  # "sfm", "train", "compress"
    kind: Literal["processing", "training"]
    settings_cls: type
    run: Callable[..., Report]
    description: str
    channel: str = "training"  # the training job's input channel


def execute_stage(
    spec: StageSpec,
    settings: Any,
    input_path: Path,
    output_dir: Path,
    **dirs: Path,
) -> Report:
    """Run the stage into `output_dir` atomically and write its report there, last.

    For training, `dirs` holds `checkpoint_dir` and `extras_dir`; a missing `extras_dir` means
    the extras go into the output itself (`extras/`).
    """
    input_path = Path(input_path)
    if not input_path.exists():
        raise SpaceportError(f"The input {input_path} does not exist; check the path.")
    started = time.perf_counter()
    with atomic_output(output_dir) as work:
        if spec.kind == "training" and dirs.get("extras_dir") is None:
            dirs["extras_dir"] = work / "extras"
        for folder in dirs.values():
            Path(folder).mkdir(parents=True, exist_ok=True)
        report = spec.run(settings, input_path, work, **dirs)
        if not report.inputs:
            report.inputs = list_files(input_path)
        report.outputs = list_files(work)
        report.timings_s["total"] = round(time.perf_counter() - started, 3)
        report.details.setdefault("settings", _settings_dict(settings))
        report.write(work)
    return report


def _settings_dict(settings: Any) -> dict[str, Any]:
    return dict(vars(settings)) if hasattr(settings, "__dict__") else {}


def _parser(spec: StageSpec) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"spaceport-{spec.name}",
        description=spec.description,
        epilog="settings:\n" + settings_help(spec.settings_cls),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if spec.kind == "training":
        parser.add_argument(
            "mode",
            nargs="?",
            choices=["train"],
            help="'train', as SageMaker starts a training image (container mode)",
        )
    parser.add_argument("--input", type=Path, help="local mode: the input folder or file")
    parser.add_argument("--output", type=Path, help="local mode: the output folder")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a setting, repeatable"
    )
    parser.add_argument("--settings-file", type=Path, help="a JSON object of settings")
    parser.add_argument("--ml-root", type=Path, help="container mode: the /opt/ml root")
    if spec.kind == "training":
        parser.add_argument(
            "--checkpoints",
            type=Path,
            help="local mode: checkpoint folder (default OUT.checkpoints)",
        )
    return parser


def _settings_values(args: argparse.Namespace, hyperparameters: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = dict(hyperparameters)
    if args.settings_file:
        try:
            data = json.loads(args.settings_file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise SpaceportError(
                f"Cannot read the settings file {args.settings_file}: {exc}."
            ) from exc
        if not isinstance(data, dict):
            raise SpaceportError(f"The settings file {args.settings_file} must hold a JSON object.")
        values.update(data)
    values.update(parse_assignments(args.set))
    return values


def _on_sigterm(signum: int, frame: Any) -> None:
    raise StageTerminatedError("The job was stopped (SIGTERM) before it finished; run it again.")


def stage_main(spec: StageSpec, argv: Sequence[str] | None = None) -> int:
    """Parse the edge, run the stage, report failure the SageMaker way; return the exit code."""
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    args = _parser(spec).parse_args(argv)
    local = args.input is not None
    failure_file: Path | None = None
    if not local:
        root = ml_root(args.ml_root)
        paths = ProcessingPaths(root) if spec.kind == "processing" else TrainingPaths(root)
        failure_file = paths.failure_file
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        if local:
            if args.output is None:
                raise SpaceportError("--output is required with --input; name an output folder.")
            hyperparameters: dict[str, str] = {}
            input_path, output_dir = args.input, args.output
            dirs: dict[str, Path] = {}
            if spec.kind == "training":
                dirs["checkpoint_dir"] = args.checkpoints or output_dir.with_name(
                    output_dir.name + ".checkpoints"
                )
        elif spec.kind == "processing":
            hyperparameters = {}
            input_path, output_dir = paths.input(), paths.output()
            dirs = {}
        else:
            hyperparameters = read_hyperparameters(paths.hyperparameters_file)
            input_path, output_dir = paths.channel(spec.channel), paths.model_dir
            dirs = {"checkpoint_dir": paths.checkpoints_dir, "extras_dir": paths.output_data_dir}
        settings = parse_settings(spec.settings_cls, _settings_values(args, hyperparameters))
        log.info("spaceport-%s: %s -> %s", spec.name, input_path, output_dir)
        report = execute_stage(spec, settings, input_path, output_dir, **dirs)
    except SpaceportError as exc:
        message = str(exc)
        log.error("%s", message)
        print(f"spaceport-{spec.name}: error: {message}", file=sys.stderr, flush=True)
        if failure_file:
            write_failure(failure_file, message)
        return 1
    except Exception as exc:  # a bug, not the user's fault: keep the traceback in the log
        traceback.print_exc()
        message = f"Internal error in the {spec.name} stage: {type(exc).__name__}: {exc}"
        print(f"spaceport-{spec.name}: error: {message}", file=sys.stderr, flush=True)
        if failure_file:
            write_failure(failure_file, message)
        return 1
    metrics = " ".join(f"{k}={v}" for k, v in report.metrics.items())
    log.info("spaceport-%s finished: %s", spec.name, metrics)
    return 0
