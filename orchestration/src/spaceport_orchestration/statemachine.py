"""The Step Functions state machine (ASL), built in Python and committed as `statemachine.asl.json`.

    Configure → Sfm (Processing) → TrainCapacity ─┬─ Train (Training, on demand) ─┬─ Compress
                                                   └─ TrainOnSpot (managed spot) ──┘  (Processing)
    → ReadSfmReport, ReadCompressReport (report.json via aws-sdk:s3:getObject)
    → FindPsnr (Map over the training job's FinalMetricDataList) → NotifySuccess (SNS) → Succeeded
    any stage's error → <Stage>Failed → the SageMaker failure reason → NotifyFailure (SNS) → Failed

Two kinds of parameters:

- **Deployment values** are CloudFormation/CDK `DefinitionSubstitutions` (`${Name}` in the
  committed file; `SUBSTITUTIONS` lists them with their defaults). Numbers and booleans go through
  `States.StringToJson('${Name}')` so the committed file stays valid JSON and the request carries
  real numbers.
- **Per-job values** come from the execution input (see `execution_input.py`): `images` (an S3
  prefix), `email`, and each stage's settings (`sfm_args` / `compress_args` as ContainerArguments,
  `train_hyperparameters` as a map of strings).

Every S3 location lives under one job prefix `s3://${ArtifactBucket}/jobs/<execution name>/`;
SageMaker job names are `<prefix>-<execution name>-<stage>-<retry count>` (naming.py), unique per
execution and retry, and matched by the IAM patterns the CDK stack grants.
The success and failure messages are published to `${NotificationTopicArn}` with a message
attribute `email`: the submitter subscribes the user's address with a filter policy on it, so each
user gets the messages of their own jobs (and the operator, subscribed without a filter, all).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spaceport_orchestration.naming import DEFAULT_PREFIX, job_name_template
from spaceport_orchestration.stages import PIPELINE, StageInfo, upstream
from spaceport_shared.contract import (
    DEFAULT_ML_ROOT,
    GEOREFERENCE_NAME,
    SOG_NAME,
    ProcessingPaths,
    TrainingPaths,
)
from spaceport_shared.metrics import TRAINING_METRICS, metric_definitions
from spaceport_shared.report import REPORT_NAME


def _stage_substitutions(info: StageInfo) -> dict[str, str | None]:
    values: dict[str, str | None] = {
        f"{info.state}ImageUri": None,
        f"{info.state}InstanceType": info.instance_type,
        f"{info.state}VolumeSizeGb": str(info.volume_size_gb),
        f"{info.state}MaxRuntimeSeconds": str(info.max_runtime_s),
    }
    if info.kind == "training":
        values[f"{info.state}MaxWaitSeconds"] = str(info.max_wait_s)
        values[f"{info.state}UseSpot"] = "false"
    return values


# Deployment parameters and their defaults (None: no default, the deployer must give it).
SUBSTITUTIONS: dict[str, str | None] = {
    "ArtifactBucket": None,
    "SageMakerRoleArn": None,
    "NotificationTopicArn": None,
    "JobNamePrefix": DEFAULT_PREFIX,  # SageMaker job names start with it (naming.py)
    **{name: value for info in PIPELINE for name, value in _stage_substitutions(info).items()},
}

# The container contract's paths inside the jobs.
PROCESSING_INPUT = ProcessingPaths(DEFAULT_ML_ROOT).input().as_posix()
PROCESSING_OUTPUT = ProcessingPaths(DEFAULT_ML_ROOT).output().as_posix()
CHECKPOINTS = TrainingPaths(DEFAULT_ML_ROOT).checkpoints_dir.as_posix()

# Errors worth retrying: throttling and capacity. A job that failed by itself (States.TaskFailed)
# is never retried: it would fail again and cost again. Step Functions names SageMaker's
# unmodelled service errors (throttling: "Rate exceeded") `SageMaker.AmazonSageMakerException`;
# quota/capacity refusals at create time are `SageMaker.ResourceLimitExceededException`.
THROTTLING_ERRORS = ("SageMaker.AmazonSageMakerException", "ThrottlingException")
CAPACITY_ERRORS = ("SageMaker.ResourceLimitExceededException",)


@dataclass(frozen=True)
class RetryPolicy:
    throttle_interval_s: int = 10
    throttle_attempts: int = 5
    capacity_interval_s: int = 120
    capacity_attempts: int = 4
    backoff_rate: float = 2.0


def _sub(name: str) -> str:
    if name not in SUBSTITUTIONS:
        raise KeyError(name)
    return "${" + name + "}"


def _number(name: str) -> str:
    """A substituted number or boolean as a real JSON value at run time."""
    return f"States.StringToJson('{_sub(name)}')"


def _job_prefix(part: str) -> str:
    """`States.Format` for `s3://<bucket>/jobs/<execution name>/<part>` (used by Configure)."""
    suffix = f"/{part}" if part else ""
    return f"States.Format('s3://{_sub('ArtifactBucket')}/jobs/{{}}{suffix}', $$.Execution.Name)"


def _intermediate_prefix(part: str) -> str:
    """`s3://<bucket>/intermediate/<execution name>/<part>`: deleted by the bucket's lifecycle
    rule some days after the job (a rule matches key prefixes only, so these live apart)."""
    return (
        f"States.Format('s3://{_sub('ArtifactBucket')}/intermediate/{{}}/{part}', "
        "$$.Execution.Name)"
    )


def _job_name(stage: str) -> str:
    template = job_name_template(_sub("JobNamePrefix"), stage)
    return f"States.Format('{template}', $$.Execution.Name, $$.State.RetryCount)"


def _s3_input(name: str, uri_path: str, local_path: str) -> dict[str, Any]:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri.$": uri_path,
            "LocalPath": local_path,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
            "S3CompressionType": "None",
        },
    }


def _retry(policy: RetryPolicy) -> list[dict[str, Any]]:
    return [
        {
            "ErrorEquals": list(THROTTLING_ERRORS),
            "IntervalSeconds": policy.throttle_interval_s,
            "MaxAttempts": policy.throttle_attempts,
            "BackoffRate": policy.backoff_rate,
            "JitterStrategy": "FULL",
        },
        {
            "ErrorEquals": list(CAPACITY_ERRORS),
            "IntervalSeconds": policy.capacity_interval_s,
            "MaxAttempts": policy.capacity_attempts,
            "BackoffRate": policy.backoff_rate,
            "JitterStrategy": "FULL",
        },
    ]


def _catch(stage: str) -> list[dict[str, Any]]:
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": f"{stage}Failed"}]


def _processing_task(
    info: StageInfo, input_uri_path: str, next_state: str, policy: RetryPolicy
) -> dict[str, Any]:
    stage, cap = info.name, info.state
    return {
        "Type": "Task",
        "Comment": f"SageMaker Processing job running spaceport-{stage}",
        "Resource": "arn:aws:states:::sagemaker:createProcessingJob.sync",
        "Parameters": {
            "ProcessingJobName.$": _job_name(stage),
            "RoleArn": _sub("SageMakerRoleArn"),
            "AppSpecification": {
                "ImageUri": _sub(f"{cap}ImageUri"),
                # The image's ENTRYPOINT is the stage's console script; the execution input
                # holds its arguments (`--ml-root /opt/ml --set key=value ...`, never empty).
                "ContainerArguments.$": f"$.{info.settings_field}",
            },
            "ProcessingInputs": [_s3_input("input", input_uri_path, PROCESSING_INPUT)],
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": "output",
                        "S3Output": {
                            "S3Uri.$": f"$.job.{stage}",
                            "LocalPath": PROCESSING_OUTPUT,
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                ]
            },
            "ProcessingResources": {
                "ClusterConfig": {
                    "InstanceCount": 1,
                    "InstanceType": _sub(f"{cap}InstanceType"),
                    "VolumeSizeInGB.$": _number(f"{cap}VolumeSizeGb"),
                }
            },
            "StoppingCondition": {"MaxRuntimeInSeconds.$": _number(f"{cap}MaxRuntimeSeconds")},
            "Environment": {"SPACEPORT_JOB_ID.$": "$$.Execution.Name"},
            "Tags": [{"Key": "spaceport:job", "Value.$": "$$.Execution.Name"}],
        },
        "ResultSelector": {"job_name.$": "$.ProcessingJobName"},
        "ResultPath": f"$.{stage}",
        "Retry": _retry(policy),
        "Catch": _catch(cap),
        "Next": next_state,
    }


def _training_task(
    info: StageInfo, input_uri_path: str, next_state: str, spot: bool, policy: RetryPolicy
) -> dict[str, Any]:
    stage, cap = info.name, info.state
    stopping: dict[str, Any] = {"MaxRuntimeInSeconds.$": _number(f"{cap}MaxRuntimeSeconds")}
    if spot:
        stopping["MaxWaitTimeInSeconds.$"] = _number(f"{cap}MaxWaitSeconds")
    return {
        "Type": "Task",
        "Comment": f"SageMaker Training job running `<image> train` ({info.command})"
        + (", managed spot" if spot else ""),
        "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
        "Parameters": {
            "TrainingJobName.$": _job_name(stage),
            "RoleArn": _sub("SageMakerRoleArn"),
            "AlgorithmSpecification": {
                "TrainingImage": _sub(f"{cap}ImageUri"),
                "TrainingInputMode": "File",
                "MetricDefinitions": metric_definitions(TRAINING_METRICS),
            },
            "HyperParameters.$": f"$.{info.settings_field}",
            "InputDataConfig": [
                {
                    "ChannelName": "training",
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri.$": input_uri_path,
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                    "CompressionType": "None",
                    "InputMode": "File",
                }
            ],
            "OutputDataConfig": {"S3OutputPath.$": f"$.job.{stage}"},
            "ResourceConfig": {
                "InstanceCount": 1,
                "InstanceType": _sub(f"{cap}InstanceType"),
                "VolumeSizeInGB.$": _number(f"{cap}VolumeSizeGb"),
            },
            "StoppingCondition": stopping,
            "EnableManagedSpotTraining": spot,
            "CheckpointConfig": {"S3Uri.$": "$.job.checkpoints", "LocalPath": CHECKPOINTS},
            "Environment": {"SPACEPORT_JOB_ID.$": "$$.Execution.Name"},
            "Tags": [{"Key": "spaceport:job", "Value.$": "$$.Execution.Name"}],
        },
        # The whole DescribeTrainingJob response: FinalMetricDataList may be absent.
        "ResultPath": f"$.{stage}",
        "Retry": _retry(policy),
        "Catch": _catch(cap),
        "Next": next_state,
    }


def _read_report(info: StageInfo, next_state: str) -> dict[str, Any]:
    """Read a processing stage's report.json (the SDK integration returns Body as a string)."""
    stage, cap = info.name, info.state
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
        "Parameters": {
            "Bucket": _sub("ArtifactBucket"),
            "Key.$": f"States.Format('jobs/{{}}/{stage}/{REPORT_NAME}', $$.Execution.Name)",
        },
        "ResultSelector": {"report.$": "States.StringToJson($.Body)"},
        "ResultPath": f"$.reports.{stage}",
        "Retry": [
            {
                "ErrorEquals": ["S3.S3Exception", "S3.SdkClientException"],
                "IntervalSeconds": 2,
                "MaxAttempts": 3,
                "BackoffRate": 2.0,
            }
        ],
        "Catch": _catch(f"{cap}Report"),
        "Next": next_state,
    }


SUCCESS_MESSAGE = """Your Spaceport job {} has finished.

Compressed model (SOG, for the web viewer): {}
Location: {}
Georeference (origin, frame, fit): {}
Trained model (3DGS PLY inside model.tar.gz): {}
All outputs: {}/

Images registered: {} of {}
Held-out PSNR: {} dB
Size: {} bytes to {} bytes (ratio {})
"""

FAILURE_MESSAGE = """Your Spaceport job {} failed in the {} stage.

Reason: {}

Error: {}
Outputs so far: {}/
"""


def _format(template: str, *args: str) -> str:
    """`States.Format` of a multi-line template: each newline becomes an argument.

    Newlines inside an intrinsic function's string are not portable (statelint rejects them),
    so `Configure` keeps a newline in `$.job.nl` and the template refers to it. Templates hold
    no quote or brace characters, which would need escaping.
    """
    if any(c in template.replace("{}", "") for c in "'{}\\"):
        raise ValueError("message templates may not hold quotes, braces or backslashes")
    pieces = template.split("\n")
    values = iter(args)
    out_args: list[str] = []
    for i, piece in enumerate(pieces):
        out_args.extend(next(values) for _ in range(piece.count("{}")))
        if i < len(pieces) - 1:
            out_args.append("$.job.nl")
    if next(values, None) is not None:
        raise ValueError("more arguments than placeholders")
    return f"States.Format('{'{}'.join(pieces)}', {', '.join(out_args)})"


def _notify(subject: str, message: str, next_state: str) -> dict[str, Any]:
    """Publish the message, then go on to `next_state` whether or not SNS took it: the
    execution's status is the job's (its outputs stay in S3), not the email's."""
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::sns:publish",
        "Parameters": {
            "TopicArn": _sub("NotificationTopicArn"),
            "Subject.$": subject,
            "Message.$": message,
            # Subscribers filter on `email`: each user gets only their own jobs' messages.
            "MessageAttributes": {
                "email": {"DataType": "String", "StringValue.$": "$.email"},
                "job_id": {"DataType": "String", "StringValue.$": "$$.Execution.Name"},
            },
        },
        "ResultPath": "$.notification",
        "Retry": [
            {
                "ErrorEquals": ["SNS.ThrottledException", "SNS.InternalErrorException"],
                "IntervalSeconds": 2,
                "MaxAttempts": 4,
                "BackoffRate": 2.0,
            }
        ],
        "Catch": [
            {
                "ErrorEquals": ["States.ALL"],
                "ResultPath": "$.notification_error",
                "Next": next_state,
            }
        ],
        "Next": next_state,
    }


# A processing stage's report.json is read from S3; a training stage's is inside model.tar.gz.
REPORTING = tuple(info for info in PIPELINE if info.kind == "processing")
TRAINING = next(info for info in PIPELINE if info.kind == "training")  # the PSNR's source

FAILED_STEPS = {
    **{info.state: info.label for info in PIPELINE},
    **{f"{info.state}Report": f"{info.name} report" for info in REPORTING},
    "Georeference": "georeference copy",
}


# What a user reads when SageMaker stopped a job without a reason of its own: by the training
# job's SecondaryStatus, else (a user's StopProcessingJob/StopTrainingJob) STOPPED.
STOP_REASONS = {
    "MaxRuntimeExceeded": "The job ran past its time limit and SageMaker stopped it "
    "(MaxRuntimeExceeded); ask for less work, such as fewer steps, or deploy with a longer "
    "MaxRuntimeSeconds.",
    "MaxWaitTimeExceeded": "No spot capacity came in time and SageMaker stopped the job "
    "(MaxWaitTimeExceeded); start the job again, or deploy with train_use_spot=false.",
}
STOPPED = "The job was stopped before it finished (by a user or by SageMaker); start it again."
# A report that is missing or not JSON (the Error line of the message says which).
REPORT_UNREADABLE = "The {} stage ended without a readable report.json; start the job again."


def _failure_states() -> dict[str, Any]:
    states: dict[str, Any] = {}
    reports = {f"{info.state}Report": info.name for info in REPORTING}
    for step, title in FAILED_STEPS.items():
        states[f"{step}Failed"] = {
            "Type": "Pass",
            "Comment": f"Name the failed stage: {title}.",
            "Parameters": {
                "stage": title,
                "email.$": "$.email",
                "job.$": "$.job",
                "failure.$": "$.failure",
            },
            "Next": f"Use{step}Reason" if step in reports or step == "Georeference" else "HasCause",
        }
    fixed = {
        **{step: REPORT_UNREADABLE.format(stage) for step, stage in reports.items()},
        "Georeference": GEOREFERENCE_MISSING,
    }
    for step, text in fixed.items():
        states[f"Use{step}Reason"] = {
            "Type": "Pass",
            "Parameters": {"text": text},
            "ResultPath": "$.reason",
            "Next": "NotifyFailure",
        }
    # A SageMaker job that failed by itself gives States.TaskFailed with the Describe*Job
    # response as its cause: show its ExitMessage (processing: our /opt/ml/output/message) or
    # its FailureReason (training: our /opt/ml/output/failure). Other errors (throttling after
    # the last retry, a bad request) carry a plain-text cause, shown as it is. Nested Choices,
    # so no rule reads a path that may be missing.
    states["HasCause"] = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.failure.Cause", "IsPresent": True, "Next": "IsJobFailure"}],
        "Default": "UseErrorAsReason",
    }
    states["IsJobFailure"] = {
        "Type": "Choice",
        "Choices": [
            {
                "And": [
                    {"Variable": "$.failure.Error", "StringEquals": "States.TaskFailed"},
                    {"Variable": "$.failure.Cause", "StringMatches": "{*}"},
                ],
                "Next": "ParseJobDescription",
            }
        ],
        "Default": "UseCauseAsReason",
    }
    states["ParseJobDescription"] = {
        "Type": "Pass",
        "Parameters": {"description.$": "States.StringToJson($.failure.Cause)"},
        "ResultPath": "$.sagemaker",
        "Next": "WhichReason",
    }
    description = "$.sagemaker.description"
    states["WhichReason"] = {
        "Type": "Choice",
        "Choices": [
            {"Variable": f"{description}.ExitMessage", "IsPresent": True, "Next": "UseExitMessage"},
            {
                "Variable": f"{description}.FailureReason",
                "IsPresent": True,
                "Next": "UseFailureReason",
            },
            # No reason given: a stopped job (a user's stop, a time limit, spot capacity).
            {"Variable": f"{description}.SecondaryStatus", "IsPresent": True, "Next": "WhyStopped"},
            {
                "Variable": f"{description}.ProcessingJobStatus",
                "IsPresent": True,
                "Next": "IsProcessingStopped",
            },
        ],
        "Default": "UseCauseAsReason",
    }
    states["WhyStopped"] = {
        "Type": "Choice",
        "Choices": [
            {
                "Variable": f"{description}.SecondaryStatus",
                "StringEquals": status,
                "Next": f"Use{status}",
            }
            for status in STOP_REASONS
        ],
        "Default": "UseStopped",
    }
    states["IsProcessingStopped"] = {
        "Type": "Choice",
        "Choices": [
            {
                "Variable": f"{description}.ProcessingJobStatus",
                "StringEquals": "Stopped",
                "Next": "UseStopped",
            }
        ],
        "Default": "UseCauseAsReason",
    }
    for name, path in [
        ("UseExitMessage", f"{description}.ExitMessage"),
        ("UseFailureReason", f"{description}.FailureReason"),
        ("UseCauseAsReason", "$.failure.Cause"),
        ("UseErrorAsReason", "$.failure.Error"),
    ]:
        states[name] = {
            "Type": "Pass",
            "Parameters": {"text.$": path},
            "ResultPath": "$.reason",
            "Next": "NotifyFailure",
        }
    for name, text in [*((f"Use{k}", v) for k, v in STOP_REASONS.items()), ("UseStopped", STOPPED)]:
        states[name] = {
            "Type": "Pass",
            "Parameters": {"text": text},
            "ResultPath": "$.reason",
            "Next": "NotifyFailure",
        }
    states["NotifyFailure"] = _notify(
        "States.Format('Spaceport job {} failed', $$.Execution.Name)",
        _format(
            FAILURE_MESSAGE,
            "$$.Execution.Name",
            "$.stage",
            "$.reason.text",
            "$.failure.Error",
            "$.job.prefix",
        ),
        "Failed",
    )
    states["Failed"] = {
        "Type": "Fail",
        "Error": "Spaceport.StageFailed",
        "Cause": "A stage failed; the failure notification says which and why.",
    }
    return states


def _psnr_states(next_state: str) -> dict[str, Any]:
    """Held-out PSNR from the training job's FinalMetricDataList (SageMaker's last value of
    each MetricDefinition). A Map picks it by name: JSONPath filters are not portable."""
    metrics = f"$.{TRAINING.name}.FinalMetricDataList"
    return {
        "HasTrainMetrics": {
            "Type": "Choice",
            "Choices": [{"Variable": metrics, "IsPresent": True, "Next": "FindPsnr"}],
            "Default": "NoPsnr",
        },
        "FindPsnr": {
            "Type": "Map",
            "ItemsPath": metrics,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "IsPsnr",
                "States": {
                    "IsPsnr": {
                        "Type": "Choice",
                        "Choices": [
                            {"Variable": "$.MetricName", "StringEquals": "psnr", "Next": "Psnr"}
                        ],
                        "Default": "OtherMetric",
                    },
                    "Psnr": {"Type": "Pass", "Parameters": {"psnr.$": "$.Value"}, "End": True},
                    "OtherMetric": {"Type": "Pass", "Result": {}, "End": True},
                },
            },
            "ResultSelector": {"psnr.$": "$[*].psnr"},
            "ResultPath": "$.figures",
            "Next": "HasPsnr",
        },
        "HasPsnr": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.figures.psnr[0]", "IsPresent": True, "Next": "PickPsnr"}],
            "Default": "NoPsnr",
        },
        "PickPsnr": {
            "Type": "Pass",
            "Parameters": {"psnr.$": "$.figures.psnr[0]"},
            "ResultPath": "$.figures",
            "Next": next_state,
        },
        "NoPsnr": {
            "Type": "Pass",
            "Result": {"psnr": "n/a"},
            "ResultPath": "$.figures",
            "Next": next_state,
        },
    }


GEOREFERENCED = (
    "States.Format('latitude {}, longitude {} (WGS84): the model is in ENU metres, x east, "
    "y north, z up, around it', $.reports.sfm.report.details.georeference.origin.lat, "
    "$.reports.sfm.report.details.georeference.origin.lon)"
)
NOT_GEOREFERENCED = "not georeferenced (no usable GPS in the photos): the model is in its own frame"
GEOREFERENCE_MISSING = (
    "The sfm stage's georeference.json could not be copied beside the .sog; start the job again."
)


def _georeference_states(next_state: str) -> dict[str, Any]:
    """georeference.json (the SfM's ENU origin and fit) beside the .sog, and the location for
    the message from the sfm report (its details.georeference.origin, when georeferenced)."""
    origin = "$.reports.sfm.report.details.georeference.origin"
    return {
        "CopyGeoreference": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:s3:copyObject",
            "Parameters": {
                "Bucket": _sub("ArtifactBucket"),
                "CopySource.$": f"States.Format('{_sub('ArtifactBucket')}/jobs/{{}}/"
                f"{PIPELINE[0].name}/{GEOREFERENCE_NAME}', $$.Execution.Name)",
                "Key.$": f"States.Format('jobs/{{}}/{PIPELINE[-1].name}/{GEOREFERENCE_NAME}', "
                "$$.Execution.Name)",
            },
            "ResultPath": None,
            "Retry": [
                {
                    "ErrorEquals": ["S3.S3Exception", "S3.SdkClientException"],
                    "IntervalSeconds": 2,
                    "MaxAttempts": 3,
                    "BackoffRate": 2.0,
                }
            ],
            "Catch": _catch("Georeference"),
            "Next": "HasOrigin",
        },
        "HasOrigin": {
            "Type": "Choice",
            "Choices": [{"Variable": origin, "IsPresent": True, "Next": "UseOrigin"}],
            "Default": "NoOrigin",
        },
        "UseOrigin": {
            "Type": "Pass",
            "Parameters": {"text.$": GEOREFERENCED},
            "ResultPath": "$.location",
            "Next": next_state,
        },
        "NoOrigin": {
            "Type": "Pass",
            "Parameters": {"text": NOT_GEOREFERENCED},
            "ResultPath": "$.location",
            "Next": next_state,
        },
    }


def _input_path(info: StageInfo) -> str:
    """Where the stage's job reads: the photos, or what the stage before it wrote."""
    before = upstream(info.name)
    if before is None:
        return "$.images"
    if before.kind == "training":
        return f"$.{before.name}.ModelArtifacts.S3ModelArtifacts"
    return f"$.job.{before.name}"


def _entry_state(info: StageInfo) -> str:
    return f"{info.state}Capacity" if info.kind == "training" else info.state


def _configure() -> dict[str, Any]:
    locations: dict[str, Any] = {"prefix.$": _job_prefix("")}
    for info in PIPELINE:
        locations[f"{info.name}.$"] = _job_prefix(info.name)
        if info.kind == "training":
            locations["checkpoints.$"] = _intermediate_prefix("checkpoints")
    locations["sog.$"] = _job_prefix(f"{PIPELINE[-1].name}/{SOG_NAME}")
    locations["georeference.$"] = _job_prefix(f"{PIPELINE[-1].name}/{GEOREFERENCE_NAME}")
    for info in PIPELINE:
        if info.kind == "training":
            locations[f"{info.name}_spot.$"] = _number(f"{info.state}UseSpot")
    locations["nl"] = "\n"
    return {
        "Type": "Pass",
        "Comment": "The job's S3 locations (one prefix per execution) and flow options.",
        "Parameters": locations,
        "ResultPath": "$.job",
        "Next": _entry_state(PIPELINE[0]),
    }


def _stage_states(policy: RetryPolicy) -> dict[str, Any]:
    states: dict[str, Any] = {}
    after = [*(_entry_state(i) for i in PIPELINE[1:]), f"Read{REPORTING[0].state}Report"]
    for info, next_state in zip(PIPELINE, after, strict=True):
        source = _input_path(info)
        if info.kind == "processing":
            states[info.state] = _processing_task(info, source, next_state, policy)
            continue
        states[f"{info.state}Capacity"] = {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": f"$.job.{info.name}_spot",
                    "BooleanEquals": True,
                    "Next": f"{info.state}OnSpot",
                }
            ],
            "Default": info.state,
        }
        for spot, state in zip((False, True), info.task_states, strict=True):
            states[state] = _training_task(info, source, next_state, spot, policy)
    return states


def _report_states(next_state: str) -> dict[str, Any]:
    after = [*(f"Read{i.state}Report" for i in REPORTING[1:]), next_state]
    return {
        f"Read{info.state}Report": _read_report(info, then)
        for info, then in zip(REPORTING, after, strict=True)
    }


def build_definition(policy: RetryPolicy | None = None) -> dict[str, Any]:
    """The state machine's ASL definition, with `${Name}` definition substitutions."""
    policy = policy or RetryPolicy()
    states: dict[str, Any] = {
        "Configure": _configure(),
        **_stage_states(policy),
        **_report_states("CopyGeoreference"),
        **_georeference_states("HasTrainMetrics"),
        **_psnr_states("NotifySuccess"),
        "NotifySuccess": _notify(
            "States.Format('Spaceport job {} finished', $$.Execution.Name)",
            _format(
                SUCCESS_MESSAGE,
                "$$.Execution.Name",
                "$.job.sog",
                "$.location.text",
                "$.job.georeference",
                "$.train.ModelArtifacts.S3ModelArtifacts",
                "$.job.prefix",
                "$.reports.sfm.report.metrics.images_registered",
                "$.reports.sfm.report.metrics.images_total",
                "$.figures.psnr",
                "$.reports.compress.report.metrics.input_bytes",
                "$.reports.compress.report.metrics.output_bytes",
                "$.reports.compress.report.metrics.ratio",
            ),
            "Succeeded",
        ),
        "Succeeded": {"Type": "Succeed"},
    }
    states.update(_failure_states())
    return {
        "Comment": "Spaceport: drone photos -> SfM -> 3DGS training -> SOG compression -> email",
        "StartAt": "Configure",
        "TimeoutSeconds": 24 * 3600,
        "States": states,
    }


def definition_json(definition: Mapping[str, Any] | None = None) -> str:
    """The committed file's exact text."""
    return json.dumps(definition or build_definition(), indent=2) + "\n"


COMMITTED_PATH = Path(__file__).resolve().parents[2] / "statemachine.asl.json"

# CloudFormation's definition-substitution placeholder, `${Name}`.
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def substitution_values(text: str, values: Mapping[str, str]) -> dict[str, str]:
    """The value of every placeholder `text` uses: `values`, the defaults filling the gaps.

    Raises KeyError naming the placeholders without a value (CloudFormation would fail the
    deploy on them)."""
    merged = {k: v for k, v in SUBSTITUTIONS.items() if v is not None}
    merged.update(values)
    used = placeholders(text)
    missing = sorted(used - merged.keys())
    if missing:
        raise KeyError(f"no value for the definition substitutions {', '.join(missing)}")
    return {name: merged[name] for name in sorted(used)}


def render(text: str, values: Mapping[str, str]) -> str:
    """Apply definition substitutions as CloudFormation does (defaults fill the gaps)."""
    merged = substitution_values(text, values)

    def value(match: re.Match[str]) -> str:
        raw = merged[match.group(1)]
        # Substituted inside JSON strings (some inside intrinsic-function literals).
        return json.dumps(raw)[1:-1].replace("'", "\\'")

    return _PLACEHOLDER.sub(value, text)
