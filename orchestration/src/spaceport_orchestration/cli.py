"""`spaceport`: the umbrella command.

spaceport synth OUT [--preset demo|test] [--seed N]       a synthetic drone survey
spaceport run IMAGES --out OUT [--redo] [--train-set steps=3000 ...]
spaceport demo [--out demo-output]                         synth + run + summary
spaceport submit IMAGES|s3://bucket/prefix/ --email ADDR   start a job on AWS
spaceport status JOB                                       where a job on AWS is
spaceport definition [--write | --render]                  the state machine (ASL)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from spaceport_orchestration.config import load_config
from spaceport_orchestration.local_run import run_local
from spaceport_orchestration.progress import RichProgress, print_summary
from spaceport_orchestration.stages import STAGES
from spaceport_orchestration.statemachine import COMMITTED_PATH, definition_json, render
from spaceport_shared.errors import SpaceportError
from spaceport_shared.settings import parse_assignments

# `make demo`: the demo survey and the train stage's preset that fits it on 2 CPU cores
# (spaceport_train.settings.DEMO_CPU_SETTINGS, measured there).
DEMO_PRESET = "demo"
DEMO_SEED = "0"
DEMO_TRAIN_SETTINGS: dict[str, str] = {"preset": "demo-cpu"}


def _stage_settings(args: argparse.Namespace) -> dict[str, dict[str, str]]:
    return {stage: parse_assignments(getattr(args, f"{stage}_set")) for stage in STAGES}


def _add_stage_settings(parser: argparse.ArgumentParser) -> None:
    for stage in STAGES:
        parser.add_argument(
            f"--{stage}-set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help=f"a {stage} stage setting (repeatable; `spaceport-{stage} --help` lists them)",
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spaceport",
        description="Drone photos -> georeferenced, web-ready Gaussian splats.",
    )
    parser.add_argument("--config", type=Path, help="cloud settings file (TOML)")
    sub = parser.add_subparsers(dest="command", required=True)

    synth = sub.add_parser(
        "synth",
        add_help=False,  # --help goes to the generator's own parser
        help="render a synthetic drone survey",
        description="Render a synthetic drone survey (arguments go to the generator).",
    )
    synth.add_argument("synth_args", nargs=argparse.REMAINDER, help="OUT [--preset P] [--seed N]")

    run = sub.add_parser("run", help="run sfm -> train -> compress on this machine")
    run.add_argument("images", type=Path, help="a folder of photos (or a .zip of them)")
    run.add_argument("--out", type=Path, required=True, help="output folder")
    run.add_argument("--redo", action="store_true", help="run every stage again")
    _add_stage_settings(run)

    demo = sub.add_parser("demo", help="synthetic survey -> spaceport run -> summary")
    demo.add_argument("--out", type=Path, default=Path("demo-output"))
    demo.add_argument("--redo", action="store_true", help="run every stage again")
    _add_stage_settings(demo)

    submit = sub.add_parser("submit", help="start a job on AWS")
    submit.add_argument("images", help="a local folder of photos, or s3://bucket/prefix/")
    submit.add_argument("--email", required=True, help="where the result email goes")
    submit.add_argument("--job-id", help="the job id (default: a new one)")
    _add_stage_settings(submit)

    status = sub.add_parser("status", help="a job's state on AWS")
    status.add_argument("job_id")

    definition = sub.add_parser("definition", help="print the state machine definition (ASL)")
    group = definition.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help=f"write it to {COMMITTED_PATH.name}")
    group.add_argument(
        "--render", action="store_true", help="apply the definition substitutions (cloud config)"
    )
    definition.add_argument(
        "--sub", action="append", default=[], metavar="NAME=VALUE", help="a substitution value"
    )
    return parser


def _cmd_synth(args: argparse.Namespace, console: Console) -> int:
    try:
        from spaceport_synth.cli import main as synth_main
    except ImportError as exc:
        raise SpaceportError(
            f"The synthetic survey generator is not available ({exc}); run `make setup`."
        ) from exc
    synth_args = list(args.synth_args)
    if synth_args[:1] == ["--"]:
        synth_args = synth_args[1:]
    return int(synth_main(synth_args) or 0)


def _run(images: Path, out: Path, settings, redo: bool, console: Console) -> int:
    started = time.perf_counter()
    with RichProgress(console) as view:
        summary = run_local(images, out, settings=settings, redo=redo, view=view)
    print_summary(summary, console)
    console.print(f"total wall time: {time.perf_counter() - started:.1f} s")
    return 0


def _cmd_run(args: argparse.Namespace, console: Console) -> int:
    return _run(args.images, args.out, _stage_settings(args), args.redo, console)


def _cmd_demo(args: argparse.Namespace, console: Console) -> int:
    started = time.perf_counter()
    survey = args.out / "survey"
    images = survey / "images"
    if not (images.is_dir() and any(images.iterdir())):
        console.print(f"generating the synthetic demo survey in {survey} ...")
        args.synth_args = [str(survey), "--preset", DEMO_PRESET, "--seed", DEMO_SEED]
        code = _cmd_synth(args, console)
        if code:
            return code
    settings = _stage_settings(args)
    settings["train"] = {**DEMO_TRAIN_SETTINGS, **settings["train"]}
    code = _run(images, args.out / "run", settings, args.redo, console)
    console.print(f"demo total (survey + run): {time.perf_counter() - started:.1f} s")
    return code


def _session(config):
    import boto3

    return boto3.session.Session(region_name=config.region)


def _cmd_submit(args: argparse.Namespace, console: Console) -> int:
    from spaceport_orchestration.cloud import start_job, upload_images
    from spaceport_orchestration.execution_input import check_email, new_job_id
    from spaceport_orchestration.naming import check_job_id

    config = load_config(args.config).require("region", "bucket", "state_machine_arn")
    session = _session(config)
    s3 = session.client("s3")
    job_id = check_job_id(args.job_id or new_job_id())
    check_email(args.email)
    if args.images.startswith("s3://"):
        images_uri = args.images
    else:
        images_uri, count = upload_images(s3, Path(args.images), config.bucket, job_id)
        console.print(f"uploaded {count} files to {images_uri}")
    started = start_job(
        sfn=session.client("stepfunctions"),
        s3=s3,
        sns=session.client("sns") if config.topic_arn else None,
        bucket=config.bucket,
        state_machine_arn=config.state_machine_arn,
        topic_arn=config.topic_arn,
        images_uri=images_uri,
        email=args.email,
        settings=_stage_settings(args),
        job_id=job_id,
    )
    if started.subscribed:
        console.print(f"{args.email}: confirm the subscription email from AWS to get the result.")
    console.print(f"started job {started.job_id}")
    console.print(f"  execution: {started.execution_arn}")
    console.print(f"  follow it: spaceport status {started.job_id}")
    return 0


def _cmd_status(args: argparse.Namespace, console: Console) -> int:
    from spaceport_orchestration.cloud import job_status

    config = load_config(args.config).require("region", "state_machine_arn")
    session = _session(config)
    status = job_status(
        sfn=session.client("stepfunctions"),
        sagemaker=session.client("sagemaker"),
        cloudwatch=session.client("cloudwatch"),
        state_machine_arn=config.state_machine_arn,
        job_id=args.job_id,
    )
    console.print(f"job {status.job_id}: {status.state}", highlight=False)
    if status.started:
        console.print(f"  started: {status.started:%Y-%m-%d %H:%M:%S %Z}", highlight=False)
    if status.stage:
        console.print(f"  stage: {status.stage}", highlight=False)
    if status.sagemaker_job:
        console.print(
            f"  SageMaker job: {status.sagemaker_job} ({status.sagemaker_status})", highlight=False
        )
    if status.metrics:
        values = ", ".join(f"{k}={v:g}" for k, v in sorted(status.metrics.items()))
        console.print(f"  latest metrics: {values}", highlight=False)
    if status.failure:
        console.print(f"  failure: {status.failure}", highlight=False)
    for name, uri in status.results.items():
        console.print(f"  {name}: {uri}", highlight=False)
    return 0


def _cmd_definition(args: argparse.Namespace, console: Console) -> int:
    text = definition_json()
    if args.write:
        COMMITTED_PATH.write_text(text)
        console.print(f"wrote {COMMITTED_PATH}")
        return 0
    if args.render:
        values = load_config(args.config).substitutions()
        values.update(parse_assignments(args.sub))
        try:
            text = render(text, values)
        except KeyError as exc:
            raise SpaceportError(
                f"Cannot render the definition: {exc.args[0]}; set them in the cloud config "
                "or pass --sub NAME=VALUE."
            ) from None
        json.loads(text)  # still valid JSON after substitution
    sys.stdout.write(text)
    return 0


COMMANDS = {
    "synth": _cmd_synth,
    "run": _cmd_run,
    "demo": _cmd_demo,
    "submit": _cmd_submit,
    "status": _cmd_status,
    "definition": _cmd_definition,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["synth"]:  # everything after `synth` is the generator's, --help included
        argv = ["synth", "--", *argv[1:]]
    args = _parser().parse_args(argv)
    console = Console(soft_wrap=True)  # paths and ARNs stay whole, for copying
    try:
        return COMMANDS[args.command](args, console)
    except SpaceportError as exc:
        print(f"spaceport: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("spaceport: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
