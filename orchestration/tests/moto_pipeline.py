"""The deployed pipeline, in moto: bucket, topic, a user's filtered subscription, the state machine
(the committed definition with its substitutions applied) and the SageMaker emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from aws_requests import START_JOB_KEY, RequestLog
from moto import mock_aws
from moto_sagemaker import SageMakerEmulator, wait_for_execution

from spaceport_orchestration.cloud import start_job
from spaceport_orchestration.statemachine import COMMITTED_PATH, render

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "spaceport-test-artifacts"
USER_EMAIL = "pilot@example.com"
IMAGE_URIS = {
    stage: f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/spaceport-{stage}:test"
    for stage in ("sfm", "train", "compress")
}


@dataclass
class MotoPipeline:
    emulator: SageMakerEmulator
    state_machine_arn: str
    topic_arn: str
    queue_url: str  # receives what the user's email subscription receives
    role_arn: str
    requests: RequestLog  # every AWS request of the pipeline's principals, in IAM's terms

    @property
    def sfn(self):
        return boto3.client("stepfunctions", region_name=REGION)

    @property
    def s3(self):
        return boto3.client("s3", region_name=REGION)

    def wait(self, execution_arn: str, timeout_s: float = 600) -> dict[str, Any]:
        return wait_for_execution(self.sfn, execution_arn, timeout_s)

    def messages(self) -> list[dict[str, Any]]:
        """Notifications delivered to the user's subscription (SNS envelopes)."""
        sqs = boto3.client("sqs", region_name=REGION)
        got = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in got.get("Messages", [])]

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        return self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]


def start_test_job(
    pipeline: MotoPipeline,
    job_id: str,
    images_uri: str,
    settings: Mapping[str, Mapping[str, str]] | None = None,
    subscribe: bool = True,
):
    """Start a job the way `spaceport submit` and `/start-job` do (as the start-job Lambda)."""
    return start_job(
        sfn=start_job_client("stepfunctions"),
        s3=start_job_client("s3"),
        sns=start_job_client("sns") if subscribe else None,
        bucket=BUCKET,
        state_machine_arn=pipeline.state_machine_arn,
        topic_arn=pipeline.topic_arn if subscribe else None,
        images_uri=images_uri,
        email=USER_EMAIL,
        settings=settings,
        job_id=job_id,
    )


def start_job_client(service: str):
    """A client signing as the start-job Lambda's role (its requests are recorded as such)."""
    return boto3.client(
        service,
        region_name=REGION,
        aws_access_key_id=START_JOB_KEY,
        aws_secret_access_key="testing",
    )


def definition_for_tests(definition: Mapping[str, Any]) -> dict[str, Any]:
    """Retry intervals really sleep in moto: make them 1 s, keep everything else."""
    copy = json.loads(json.dumps(definition))
    for state in copy["States"].values():
        for retrier in state.get("Retry", []):
            retrier["IntervalSeconds"] = 1
            retrier["BackoffRate"] = 1.0
            retrier.pop("JitterStrategy", None)
    return copy


@contextmanager
def moto_pipeline(
    tmp_path: Path,
    stage_commands: Mapping[str, Sequence[str]],
    env: Mapping[str, str] | None = None,
    throttle: dict[str, int] | None = None,
    substitutions: Mapping[str, str] | None = None,
    **emulator_options: Any,  # capacity, interrupt, tamper: see SageMakerEmulator
) -> Iterator[MotoPipeline]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        sns = boto3.client("sns", region_name=REGION)
        topic_arn = sns.create_topic(Name="spaceport-notifications")["TopicArn"]
        sqs = boto3.client("sqs", region_name=REGION)
        queue_url = sqs.create_queue(QueueName="pilot-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        # What the submit command does for an email address, with a queue standing in for the
        # mailbox: only messages whose `email` attribute is the user's reach it.
        sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"FilterPolicy": json.dumps({"email": [USER_EMAIL]})},
        )
        role_arn = f"arn:aws:iam::{ACCOUNT}:role/spaceport-sagemaker"
        values = {
            "ArtifactBucket": BUCKET,
            "SageMakerRoleArn": role_arn,
            "NotificationTopicArn": topic_arn,
            "SfmImageUri": IMAGE_URIS["sfm"],
            "TrainImageUri": IMAGE_URIS["train"],
            "CompressImageUri": IMAGE_URIS["compress"],
            **(substitutions or {}),
        }
        committed = json.loads(COMMITTED_PATH.read_text())
        text = render(json.dumps(definition_for_tests(committed)), values)
        sfn = boto3.client("stepfunctions", region_name=REGION)
        arn = sfn.create_state_machine(
            name="spaceport",
            definition=text,
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/spaceport-states",
        )["stateMachineArn"]
        requests = RequestLog(REGION, ACCOUNT)
        emulator = SageMakerEmulator(
            images={IMAGE_URIS[s]: list(cmd) for s, cmd in stage_commands.items()},
            work_root=tmp_path / "sagemaker",
            region=REGION,
            env=env or {},
            throttle=dict(throttle or {}),
            requests=requests,
            **emulator_options,
        )
        with emulator.install(), requests.recording():
            yield MotoPipeline(emulator, arn, topic_arn, queue_url, role_arn, requests)
