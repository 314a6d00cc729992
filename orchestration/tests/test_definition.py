"""The state machine definition: committed = built, accepted by statelint and asl-validator, and
every SageMaker request in it valid for the SageMaker API once its `.$` values are evaluated."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import validate_parameters

from spaceport_orchestration.execution_input import build_execution_input, new_job_id
from spaceport_orchestration.naming import (
    DEFAULT_PREFIX,
    MAX_JOB_ID,
    MAX_JOB_NAME,
    check_job_id,
    job_name,
    job_resource,
)
from spaceport_orchestration.stages import PIPELINE
from spaceport_orchestration.statemachine import (
    COMMITTED_PATH,
    SUBSTITUTIONS,
    build_definition,
    definition_json,
    placeholders,
    render,
)
from spaceport_shared.errors import SpaceportError
from spaceport_shared.metrics import format_metrics

REPO = Path(__file__).resolve().parents[2]
SAMPLE_SUBSTITUTIONS = {
    "ArtifactBucket": "spaceport-artifacts-123456789012",
    "SageMakerRoleArn": "arn:aws:iam::123456789012:role/spaceport-sagemaker",
    "NotificationTopicArn": "arn:aws:sns:eu-west-1:123456789012:spaceport",
    "SfmImageUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/spaceport-sfm:abc1234",
    "TrainImageUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/spaceport-train:abc1234",
    "CompressImageUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/spaceport-compress:abc1234",
}
LONGEST_JOB_ID = "sp-" + "x" * (MAX_JOB_ID - 3)  # the longest execution name a job may have
SAGEMAKER = botocore.session.get_session().get_service_model("sagemaker")
OPERATIONS = {
    "arn:aws:states:::sagemaker:createProcessingJob.sync": "CreateProcessingJob",
    "arn:aws:states:::sagemaker:createTrainingJob.sync": "CreateTrainingJob",
}


def rendered(**extra: str) -> dict[str, Any]:
    return json.loads(render(COMMITTED_PATH.read_text(), {**SAMPLE_SUBSTITUTIONS, **extra}))


def test_committed_definition_is_what_the_builder_makes():
    assert COMMITTED_PATH.read_text() == definition_json(), (
        "orchestration/statemachine.asl.json is stale: run `spaceport definition --write`"
    )


def test_definition_command_prints_the_committed_file():
    done = subprocess.run(
        [sys.executable, "-m", "spaceport_orchestration.cli", "definition"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == COMMITTED_PATH.read_text()


def test_substitutions_are_declared_and_render_fills_them():
    text = COMMITTED_PATH.read_text()
    assert placeholders(text) == set(SUBSTITUTIONS)
    assert not placeholders(json.dumps(rendered()))
    with pytest.raises(KeyError, match="ArtifactBucket"):
        render(text, {k: v for k, v in SAMPLE_SUBSTITUTIONS.items() if k != "ArtifactBucket"})


def test_statelint_accepts_the_definition(tmp_path):
    statelint = Path(sys.executable).parent / "statelint"
    if not statelint.exists():
        pytest.skip("statelint is not installed in this environment")
    for name, definition in [
        ("template", json.loads(COMMITTED_PATH.read_text())),
        ("rendered", rendered()),
    ]:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(definition))
        done = subprocess.run([str(statelint), str(path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_asl_validator_accepts_the_definition(tmp_path):
    validator = REPO / "node_modules" / ".bin" / "asl-validator"
    if shutil.which("node") is None:
        pytest.skip("node is not installed: asl-validator (npm) cannot run")
    if not validator.exists():
        pytest.skip("asl-validator is not in node_modules: run `make setup` (npm ci)")
    path = tmp_path / "rendered.json"
    path.write_text(json.dumps(rendered()))
    for target in (COMMITTED_PATH, path):
        done = subprocess.run(
            [str(validator), "--json-path", str(target)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_statelint_and_validator_catch_a_broken_definition(tmp_path):
    """The two checkers are not rubber stamps: a dangling Next fails both."""
    broken = rendered()
    broken["States"]["Sfm"]["Next"] = "NoSuchState"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    statelint = Path(sys.executable).parent / "statelint"
    if statelint.exists():
        assert subprocess.run([str(statelint), str(path)], capture_output=True).returncode != 0
    validator = REPO / "node_modules" / ".bin" / "asl-validator"
    if shutil.which("node") and validator.exists():
        done = subprocess.run([str(validator), "--json-path", str(path)], capture_output=True)
        assert done.returncode != 0


# ---- evaluating the `.$` values the way Step Functions would -----------------------------------


def _split_args(text: str) -> list[str]:
    args, depth, quoted, current = [], 0, False, ""
    i = 0
    while i < len(text):
        c = text[i]
        if quoted:
            current += c
            if c == "\\":
                current += text[i + 1]
                i += 1
            elif c == "'":
                quoted = False
        elif c == "'":
            quoted = True
            current += c
        elif c == "(":
            depth += 1
            current += c
        elif c == ")":
            depth -= 1
            current += c
        elif c == "," and depth == 0:
            args.append(current.strip())
            current = ""
        else:
            current += c
        i += 1
    if current.strip():
        args.append(current.strip())
    return args


def _path(path: str, state: Any, context: Any) -> Any:
    root, rest = (context, path[3:]) if path.startswith("$$.") else (state, path[2:])
    value = root
    for part in filter(None, re.split(r"\.|\[(\d+)\]", rest)):
        value = value[int(part)] if part.isdigit() else value[part]
    return value


def evaluate(expression: str, state: Any, context: Any) -> Any:
    """A small evaluator for the intrinsic functions and paths this definition uses."""
    if expression.startswith("'") and expression.endswith("'"):
        return re.sub(r"\\(.)", r"\1", expression[1:-1])
    if expression.startswith("$"):
        return _path(expression, state, context)
    match = re.fullmatch(r"States\.(\w+)\((.*)\)", expression, re.S)
    assert match, f"unsupported expression {expression}"
    name, args = match.group(1), [evaluate(a, state, context) for a in _split_args(match.group(2))]
    if name == "Format":
        template, *values = args
        pieces = template.split("{}")
        assert len(pieces) == len(values) + 1
        return "".join(
            p + (str(v) if i < len(values) else "")
            for i, (p, v) in enumerate(zip(pieces, [*values, ""]))
        )
    if name == "StringToJson":
        return json.loads(args[0])
    if name == "Array":
        return list(args)
    raise AssertionError(f"unsupported intrinsic {name}")


def evaluate_parameters(params: Any, state: Any, context: Any) -> Any:
    if isinstance(params, dict):
        out = {}
        for key, value in params.items():
            if key.endswith(".$"):
                out[key[:-2]] = evaluate(value, state, context)
            else:
                out[key] = evaluate_parameters(value, state, context)
        return out
    if isinstance(params, list):
        return [evaluate_parameters(v, state, context) for v in params]
    return params


# Java's Unicode classes in SageMaker's patterns, narrowed to ASCII (our values are ASCII, so
# this is stricter than SageMaker, never looser).
JAVA_CLASSES = {r"\p{L}": "a-zA-Z", r"\p{Z}": " ", r"\p{N}": "0-9", r"\p{Alnum}": "a-zA-Z0-9"}


def _python_pattern(pattern: str) -> str:
    for java, python in JAVA_CLASSES.items():
        pattern = pattern.replace(java, python)
    return pattern


def check_constraints(value: Any, shape: Any, where: str, problems: list[str]) -> None:
    """What botocore's validator skips: enums, patterns, maximum lengths and values."""
    meta = shape.metadata
    if shape.type_name == "structure":
        for key, item in value.items():
            check_constraints(item, shape.members[key], f"{where}.{key}", problems)
    elif shape.type_name == "list":
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{where}: {len(value)} items > {meta['max']}")
        for i, item in enumerate(value):
            check_constraints(item, shape.member, f"{where}[{i}]", problems)
    elif shape.type_name == "map":
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{where}: {len(value)} entries > {meta['max']}")
        for key, item in value.items():
            check_constraints(key, shape.key, f"{where} key", problems)
            check_constraints(item, shape.value, f"{where}.{key}", problems)
    elif shape.type_name == "string":
        if shape.enum and value not in shape.enum:
            problems.append(f"{where}: {value!r} not in {shape.enum}")
        if "pattern" in meta and not re.fullmatch(_python_pattern(meta["pattern"]), value, re.S):
            problems.append(f"{where}: {value!r} does not match {meta['pattern']}")
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{where}: {len(value)} characters > {meta['max']}")
    elif shape.type_name in ("integer", "long") and "max" in meta and value > meta["max"]:
        problems.append(f"{where}: {value} > {meta['max']}")


def sample_state() -> tuple[dict[str, Any], dict[str, Any]]:
    """The state as it reaches the SageMaker tasks, for a job with settings for every stage."""
    definition = rendered()
    bucket = SAMPLE_SUBSTITUTIONS["ArtifactBucket"]
    state = build_execution_input(
        f"s3://{bucket}/jobs/{LONGEST_JOB_ID}/images/",
        "pilot@example.com",
        {"sfm": {"max_image_size": "1600"}, "train": {"steps": "7000"}, "compress": {}},
    )
    context = {"Execution": {"Name": LONGEST_JOB_ID}, "State": {"RetryCount": 10}}
    state["job"] = evaluate_parameters(
        definition["States"]["Configure"]["Parameters"], state, context
    )
    state["sfm"] = {"job_name": job_name(DEFAULT_PREFIX, LONGEST_JOB_ID, "sfm", 0)}
    train_job = job_name(DEFAULT_PREFIX, LONGEST_JOB_ID, "train", 0)
    model = f"{state['job']['train']}/{train_job}/output/model.tar.gz"
    state["train"] = {"ModelArtifacts": {"S3ModelArtifacts": model}}
    return state, context


@pytest.mark.parametrize("spot", ["false", "true"])
def test_every_sagemaker_request_is_valid_for_the_api(spot):
    definition = rendered(TrainUseSpot=spot)
    state, context = sample_state()
    checked = set()
    for name, task in definition["States"].items():
        operation = OPERATIONS.get(task.get("Resource", ""))
        if operation is None:
            continue
        request = evaluate_parameters(task["Parameters"], state, context)
        shape = SAGEMAKER.operation_model(operation).input_shape
        validate_parameters(request, shape)  # raises ParamValidationError with every problem
        problems: list[str] = []
        check_constraints(request, shape, name, problems)
        assert not problems, "\n".join(problems)
        checked.add(name)
    assert checked == {"Sfm", "Train", "TrainOnSpot", "Compress"}


def test_the_constraint_check_catches_what_botocore_skips():
    state, context = sample_state()
    task = rendered()["States"]["Sfm"]
    request = evaluate_parameters(task["Parameters"], state, context)
    request["ProcessingInputs"][0]["S3Input"]["S3InputMode"] = "FastFile"
    request["ProcessingJobName"] = "bad_name"
    request["ProcessingResources"]["ClusterConfig"]["InstanceType"] = "ml.c6i.huge"
    shape = SAGEMAKER.operation_model("CreateProcessingJob").input_shape
    validate_parameters(request, shape)  # botocore alone lets all three through
    problems: list[str] = []
    check_constraints(request, shape, "Sfm", problems)
    assert len(problems) == 3, problems


def test_job_names_are_unique_per_execution_and_retry():
    definition = build_definition()
    for name in ("Sfm", "Train", "TrainOnSpot", "Compress"):
        params = definition["States"][name]["Parameters"]
        job_name = params.get("ProcessingJobName.$") or params["TrainingJobName.$"]
        assert "$$.Execution.Name" in job_name and "$$.State.RetryCount" in job_name


def test_job_names_follow_the_naming_rule_the_iam_patterns_match():
    """The names the definition builds are naming.job_name's, for any valid job id, and the
    stack's IAM pattern (on SageMaker's lower-cased ARN) covers them."""
    definition = rendered()
    for job_id in (LONGEST_JOB_ID, "Survey-2026-A", new_job_id()):
        check_job_id(job_id)
        context = {"Execution": {"Name": job_id}, "State": {"RetryCount": 10}}
        for info in PIPELINE:
            for state_name in info.task_states:
                params = definition["States"][state_name]["Parameters"]
                field = "ProcessingJobName" if info.kind == "processing" else "TrainingJobName"
                only = {f"{field}.$": params[f"{field}.$"]}
                name = evaluate_parameters(only, {}, context)[field]
                assert name == job_name(DEFAULT_PREFIX, job_id, info.name, 10)
                assert len(name) <= MAX_JOB_NAME
                pattern = job_resource(DEFAULT_PREFIX, info.kind)
                assert fnmatch.fnmatchcase(f"{info.kind}-job/{name.lower()}", pattern)
    with pytest.raises(SpaceportError, match="not valid"):
        check_job_id("x" * (MAX_JOB_ID + 1))


def test_every_s3_input_has_all_fields_and_locations_share_the_job_prefix():
    state, context = sample_state()
    definition = rendered()
    prefix = state["job"]["prefix"] + "/"
    for name in ("Sfm", "Compress"):
        request = evaluate_parameters(definition["States"][name]["Parameters"], state, context)
        for item in request["ProcessingInputs"]:
            assert set(item["S3Input"]) == {
                "S3Uri",
                "LocalPath",
                "S3DataType",
                "S3InputMode",
                "S3DataDistributionType",
                "S3CompressionType",
            }
            assert item["S3Input"]["S3InputMode"] == "File"
            assert item["S3Input"]["LocalPath"].startswith("/opt/ml/processing/")
            assert item["S3Input"]["S3Uri"].startswith(prefix)
        assert request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"].startswith(
            prefix
        )
    train = evaluate_parameters(definition["States"]["Train"]["Parameters"], state, context)
    assert train["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == state["job"]["sfm"]
    assert train["OutputDataConfig"]["S3OutputPath"].startswith(prefix)
    assert train["CheckpointConfig"] == {
        "S3Uri": state["job"]["checkpoints"],
        "LocalPath": "/opt/ml/checkpoints",
    }


def test_spot_training_waits_longer_than_it_runs():
    state, context = sample_state()
    spot = evaluate_parameters(rendered()["States"]["TrainOnSpot"]["Parameters"], state, context)
    assert spot["EnableManagedSpotTraining"] is True
    stop = spot["StoppingCondition"]
    assert stop["MaxWaitTimeInSeconds"] > stop["MaxRuntimeInSeconds"]
    on_demand = evaluate_parameters(rendered()["States"]["Train"]["Parameters"], state, context)
    assert "MaxWaitTimeInSeconds" not in on_demand["StoppingCondition"]


def test_metric_definitions_read_the_train_metric_lines():
    definitions = build_definition()["States"]["Train"]["Parameters"]["AlgorithmSpecification"][
        "MetricDefinitions"
    ]
    line = format_metrics({"step": 1200, "loss": 0.0412, "psnr": 24.31, "gaussians": 183224})
    found = {}
    for definition in definitions:
        assert 1 <= len(definition["Regex"]) <= 500
        match = re.search(definition["Regex"], line)
        if match:
            found[definition["Name"]] = float(match.group(1))
    assert found == {"step": 1200, "loss": 0.0412, "psnr": 24.31, "gaussians": 183224}


def test_retries_only_throttling_and_capacity_and_every_stage_is_caught():
    definition = build_definition()
    for name in ("Sfm", "Train", "TrainOnSpot", "Compress"):
        state = definition["States"][name]
        retried = {e for r in state["Retry"] for e in r["ErrorEquals"]}
        assert "States.TaskFailed" not in retried and "States.ALL" not in retried
        assert all(r["BackoffRate"] > 1 for r in state["Retry"])
        assert state["Catch"][0]["ErrorEquals"] == ["States.ALL"]
        failed = definition["States"][state["Catch"][0]["Next"]]
        assert failed["Next"] == "HasCause"
