"""`spaceport`: the umbrella command.

spaceport synth OUT [--preset demo|test] [--seed N]       a synthetic drone survey
spaceport run IMAGES --out OUT [--redo] [--train-set steps=3000 ...]
spaceport run IMAGES --estimate                            each stage's expected time and cost
spaceport demo [--out demo-output]                         synth + run + summary
spaceport view OUT [--port N]                              a run's results page on 127.0.0.1
spaceport serve [--jobs DIR] [--host H] [--port N]         the local upload-and-follow web app
spaceport submit IMAGES|s3://bucket/prefix/ --email ADDR   start a job on AWS
spaceport status JOB                                       where a job on AWS is
spaceport definition [--write | --render]                  the state machine (ASL)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from spaceport_orchestration.config import load_config
from spaceport_orchestration.estimate import (
    ASSUMED_MEGAPIXELS,
    PHOTO_SUFFIXES,
    cloud_hardware,
    estimate,
    format_estimate,
    is_photo,
    local_hardware,
)
from spaceport_orchestration.local_run import run_local
from spaceport_orchestration.progress import RichProgress, print_summary
from spaceport_orchestration.results import publish_local
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
    run.add_argument("--out", type=Path, help="output folder (required unless --estimate)")
    run.add_argument(
        "--estimate",
        action="store_true",
        help="print each stage's expected time (and cloud cost) for these photos; run nothing",
    )
    run.add_argument("--redo", action="store_true", help="run every stage again")
    run.add_argument(
        "--containers",
        action="store_true",
        help="run each stage in its image (`make build`: spaceport-<stage>:latest), not this venv",
    )
    run.add_argument(
        "--time-budget",
        type=float,
        metavar="MIN",
        help="minutes training may take (the train setting time_budget_min)",
    )
    _add_stage_settings(run)

    demo = sub.add_parser("demo", help="synthetic survey -> spaceport run -> summary")
    demo.add_argument("--out", type=Path, default=Path("demo-output"))
    demo.add_argument("--redo", action="store_true", help="run every stage again")
    _add_stage_settings(demo)

    view = sub.add_parser("view", help="serve a run's results page on 127.0.0.1")
    view.add_argument("out", type=Path, help="the --out folder of `spaceport run` or demo/run")
    view.add_argument("--port", type=int, default=8000)

    serve = sub.add_parser("serve", help="the local web app: upload photos, follow jobs")
    serve.add_argument("--jobs", type=Path, default=Path("spaceport-jobs"), help="jobs folder")
    serve.add_argument("--host", default="127.0.0.1", help="listen address (default: local only)")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--max-upload-gb", type=float, default=4.0, help="largest upload")

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


def _open_hint(page: Path, out: Path, console: Console) -> None:
    console.print(f"results page: {page}", highlight=False)
    console.print(f"  open it in a browser, or serve it: spaceport view {out}", highlight=False)


def _run(
    images: Path, out: Path, settings, redo: bool, console: Console, containers: bool = False
) -> Path:
    """Run the chain and write OUT's top level; returns the results page."""
    started = time.perf_counter()
    commands = None
    if containers:
        from spaceport_orchestration.containers import container_commands

        commands = container_commands(out)
    with RichProgress(console) as view:
        summary = run_local(images, out, settings=settings, redo=redo, view=view, commands=commands)
    page = publish_local(out, summary)
    print_summary(summary, console)
    console.print(f"total wall time: {time.perf_counter() - started:.1f} s")
    return page


def _photo_megapixels(photos: list[Path]) -> float:
    """The first photo's size in megapixels (its header only), or the estimate's assumption."""
    from PIL import Image  # local runs only: the start-job Lambda has no Pillow

    for path in photos[:1]:
        try:
            with Image.open(path) as img:
                return img.width * img.height / 1e6
        except OSError:
            break
    return ASSUMED_MEGAPIXELS


def _cmd_estimate(images: Path, settings, console: Console) -> int:
    if not images.is_dir():
        raise SpaceportError(f"The images folder {images} does not exist; give a folder of photos.")
    photos = sorted(p for p in images.rglob("*") if p.is_file() and is_photo(p.name))
    if not photos:
        kinds = ", ".join(sorted({suffix.lstrip(".") for suffix in PHOTO_SUFFIXES}))
        raise SpaceportError(f"No photos in {images}; --estimate counts these files: {kinds}.")
    megapixels = _photo_megapixels(photos)
    gpu = shutil.which("nvidia-smi") is not None
    console.print(f"{len(photos)} photos of {megapixels:.1f} MP", highlight=False)
    for title, hardware in (
        (f"this machine ({os.cpu_count()} cores{', a GPU' if gpu else ''})",
         local_hardware(os.cpu_count() or 1, gpu)),
        ("on AWS (SageMaker on-demand, us-east-1 list prices)", cloud_hardware()),
    ):  # fmt: skip
        console.print(title, highlight=False)
        rows = estimate(len(photos), hardware, settings, megapixels)
        for line in format_estimate(rows):
            console.print("  " + line, highlight=False, markup=False)
    return 0


def _cmd_run(args: argparse.Namespace, console: Console) -> int:
    settings = _stage_settings(args)
    if args.time_budget is not None:
        settings["train"].setdefault("time_budget_min", str(args.time_budget))
    if args.estimate:
        return _cmd_estimate(args.images, settings, console)
    if args.out is None:
        raise SpaceportError("spaceport run needs --out FOLDER (or --estimate to only estimate).")
    page = _run(args.images, args.out, settings, args.redo, console, args.containers)
    _open_hint(page, args.out, console)
    return 0


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
    page = _run(images, args.out / "run", settings, args.redo, console)
    console.print(f"demo total (survey + run): {time.perf_counter() - started:.1f} s")
    _open_hint(page, args.out / "run", console)
    return 0


def _cmd_view(args: argparse.Namespace, console: Console) -> int:
    from spaceport_orchestration.web.server import LOCALHOST, serve_forever
    from spaceport_orchestration.web.view import PAGE, view_app

    app = view_app(args.out)
    console.print(f"serving {args.out} at http://{LOCALHOST}:{args.port}{PAGE} (Ctrl-C stops)")
    serve_forever(app, LOCALHOST, args.port)
    return 0


def _cmd_serve(args: argparse.Namespace, console: Console) -> int:
    from spaceport_orchestration.web.app import create_app
    from spaceport_orchestration.web.jobs import JobQueue
    from spaceport_orchestration.web.server import LOCALHOST, serve_forever

    if args.host != LOCALHOST:
        console.print(f"listening on {args.host}: anyone who reaches it can upload and run jobs")
    queue = JobQueue(args.jobs).start()
    app = create_app(queue, max_upload_bytes=int(args.max_upload_gb * 1024**3))
    console.print(
        f"Spaceport at http://{args.host}:{args.port}/ (jobs in {args.jobs}; Ctrl-C stops)"
    )
    serve_forever(app, args.host, args.port)
    return 0


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
    "view": _cmd_view,
    "serve": _cmd_serve,
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
