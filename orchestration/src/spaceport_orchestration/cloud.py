"""Jobs on AWS: start one (`spaceport submit`, the `/start-job` Lambda) and look at one
(`spaceport status`). boto3 clients are passed in, so tests run against moto."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from spaceport_orchestration.estimate import (
    PHOTO_SUFFIXES,
    StageEstimate,
    cloud_hardware,
    count_photos,
    estimate,
)
from spaceport_orchestration.execution_input import (
    build_execution_input,
    check_email,
    check_images_location,
    check_settings,
    new_job_id,
)
from spaceport_orchestration.naming import check_job_id
from spaceport_orchestration.stages import stage_of_state
from spaceport_shared.errors import SpaceportError

# what the SfM stage reads (stages/sfm/README.md, Inputs): photos, raws, videos + DJI telemetry
UPLOAD_SUFFIXES = {*PHOTO_SUFFIXES, ".zip", ".mp4", ".mov", ".m4v", ".srt"}


@dataclass(frozen=True)
class StartedJob:
    job_id: str
    execution_arn: str
    images_uri: str
    subscribed: bool


def images_prefix(bucket: str, job_id: str) -> str:
    return f"s3://{bucket}/jobs/{job_id}/images/"


def upload_images(s3: Any, folder: Path, bucket: str, job_id: str) -> tuple[str, int]:
    """Upload a local folder of photos (and zips of them) under the job's images prefix."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SpaceportError(f"The images folder {folder} does not exist; give a folder of photos.")
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in UPLOAD_SUFFIXES
    )
    if not files:
        raise SpaceportError(
            f"No photos (.jpg, .png, .tif, .heic, .dng), videos (.mp4, .mov) or .zip archives in "
            f"{folder}; check the folder."
        )
    uri = images_prefix(bucket, job_id)
    prefix = uri.removeprefix(f"s3://{bucket}/")
    for path in files:
        s3.upload_file(str(path), bucket, prefix + path.relative_to(folder).as_posix())
    return uri, len(files)


def subscribe_email(sns: Any, topic_arn: str, email: str) -> bool:
    """Subscribe the address to the topic, filtered to messages about its own jobs.

    Returns True when a new subscription was made (SNS then asks the user to confirm it).
    """
    paginator = sns.get_paginator("list_subscriptions_by_topic")
    for page in paginator.paginate(TopicArn=topic_arn):
        for sub in page.get("Subscriptions", []):
            if sub.get("Protocol") == "email" and sub.get("Endpoint", "").lower() == email.lower():
                return False
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="email",
        Endpoint=email,
        Attributes={"FilterPolicy": json.dumps({"email": [email]})},
    )
    return True


def images_present(s3: Any, images_uri: str) -> bool:
    bucket, _, prefix = images_uri.removeprefix("s3://").partition("/")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
    return listed.get("KeyCount", 0) > 0


def photos_under(s3: Any, images_uri: str) -> int:
    """How many photos (by suffix) lie under `images_uri`."""
    bucket, _, prefix = images_uri.removeprefix("s3://").partition("/")
    names = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        names += [item["Key"] for item in page.get("Contents", [])]
    return count_photos(names)


def estimate_job(
    *,
    s3: Any,
    bucket: str,
    images_uri: str,
    email: str,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[int, list[StageEstimate]]:
    """A dry run of `start_job`: the same checks, then each stage's expected time and cost on
    the pipeline's instance types; starts nothing."""
    check_images_location(images_uri, bucket)
    check_email(email)
    checked = check_settings(settings)
    photos = photos_under(s3, images_uri)
    if not photos:
        raise SpaceportError(
            f"There are no photos under {images_uri} (a dry run counts .jpg, .png, .tif, .heic "
            "and .dng files, not videos or archives); upload the photos first."
        )
    return photos, estimate(photos, cloud_hardware(), checked)


def start_job(
    *,
    sfn: Any,
    s3: Any,
    sns: Any | None,
    bucket: str,
    state_machine_arn: str,
    topic_arn: str | None,
    images_uri: str,
    email: str,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    job_id: str | None = None,
) -> StartedJob:
    """Check the request, subscribe the user, start the execution named after the job id."""
    job_id = check_job_id(job_id or new_job_id())
    check_images_location(images_uri, bucket)
    execution_input = build_execution_input(images_uri, email, settings)
    if not images_present(s3, images_uri):
        raise SpaceportError(f"There are no files under {images_uri}; upload the photos first.")
    subscribed = bool(topic_arn and sns) and subscribe_email(
        sns, topic_arn, execution_input["email"]
    )
    started = sfn.start_execution(
        stateMachineArn=state_machine_arn, name=job_id, input=json.dumps(execution_input)
    )
    return StartedJob(job_id, started["executionArn"], images_uri, subscribed)


def execution_arn(state_machine_arn: str, job_id: str) -> str:
    parts = state_machine_arn.split(":")
    if len(parts) != 7 or parts[5] != "stateMachine":
        raise SpaceportError(f"{state_machine_arn!r} is not a state machine ARN.")
    return ":".join([*parts[:5], "execution", parts[6], job_id])


@dataclass
class JobStatus:
    job_id: str
    state: str  # RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED
    started: datetime | None
    stage: str | None = None
    sagemaker_job: str | None = None
    sagemaker_status: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    failure: str | None = None
    results: dict[str, str] = field(default_factory=dict)


def _scheduled_jobs(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(state name, SageMaker job kind, job name) for each SageMaker task scheduled, in order."""
    jobs = []
    entered = None
    for event in events:
        if event["type"] == "TaskStateEntered":
            entered = event["stateEnteredEventDetails"]["name"]
        elif event["type"] == "TaskScheduled" and entered and stage_of_state(entered):
            params = json.loads(event["taskScheduledEventDetails"]["parameters"])
            if "ProcessingJobName" in params:
                jobs.append((entered, "processing", params["ProcessingJobName"]))
            elif "TrainingJobName" in params:
                jobs.append((entered, "training", params["TrainingJobName"]))
    return jobs


def _latest_training_metrics(cloudwatch: Any, job_name: str, names: list[str]) -> dict[str, float]:
    """The newest value of each metric SageMaker has put in CloudWatch for a running job."""
    found: dict[str, float] = {}
    end = datetime.now(UTC)
    for name in names:
        points = cloudwatch.get_metric_statistics(
            Namespace="/aws/sagemaker/TrainingJobs",
            MetricName=name,
            Dimensions=[{"Name": "Host", "Value": f"{job_name}/algo-1"}],
            StartTime=end - timedelta(days=2),
            EndTime=end,
            Period=60,
            Statistics=["Maximum"],
        ).get("Datapoints", [])
        if points:
            found[name] = max(points, key=lambda p: p["Timestamp"])["Maximum"]
    return found


def job_status(
    *, sfn: Any, sagemaker: Any, cloudwatch: Any | None, state_machine_arn: str, job_id: str
) -> JobStatus:
    arn = execution_arn(state_machine_arn, check_job_id(job_id))
    try:
        described = sfn.describe_execution(executionArn=arn)
    except sfn.exceptions.ExecutionDoesNotExist:
        raise SpaceportError(f"There is no job {job_id} in {state_machine_arn}.") from None
    status = JobStatus(job_id, described["status"], described.get("startDate"))
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    jobs = _scheduled_jobs(events)
    if jobs:
        state_name, kind, name = jobs[-1]
        status.stage = stage_of_state(state_name)
        status.sagemaker_job = name
        try:
            if kind == "processing":
                job = sagemaker.describe_processing_job(ProcessingJobName=name)
                status.sagemaker_status = job["ProcessingJobStatus"]
                failure = job.get("ExitMessage") or job.get("FailureReason")
            else:
                job = sagemaker.describe_training_job(TrainingJobName=name)
                status.sagemaker_status = (
                    f"{job['TrainingJobStatus']} ({job.get('SecondaryStatus', '')})"
                )
                failure = job.get("FailureReason")
                status.metrics = {
                    m["MetricName"]: m["Value"] for m in job.get("FinalMetricDataList", [])
                }
                if not status.metrics and cloudwatch is not None:
                    names = [
                        d["Name"]
                        for d in job["AlgorithmSpecification"].get("MetricDefinitions", [])
                    ]
                    status.metrics = _latest_training_metrics(cloudwatch, name, names)
        except sagemaker.exceptions.ClientError as exc:
            status.sagemaker_status = f"unknown ({exc.response['Error']['Message']})"
            failure = None
        if status.state != "RUNNING" and status.state != "SUCCEEDED":
            status.failure = failure
    if status.state == "SUCCEEDED" and described.get("output"):
        output = json.loads(described["output"])
        status.stage = None
        status.results = {
            "sog": output["job"]["sog"],
            "georeference": output["job"]["georeference"],
            "location": output["location"]["text"],
            "model": output["train"]["ModelArtifacts"]["S3ModelArtifacts"],
            "outputs": output["job"]["prefix"] + "/",
        }
    elif status.state != "RUNNING" and not status.failure:
        status.failure = described.get("cause") or described.get("error")
    return status
