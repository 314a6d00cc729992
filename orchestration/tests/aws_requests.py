"""Test-only: every AWS request the moto-executed pipeline makes, as IAM sees it, per principal.

moto does not evaluate IAM, so a policy can refuse every real request while every test passes.
`RequestLog` records what each principal asks for, in IAM's terms (action, resource ARN, the
condition keys the policies use), so the tests can evaluate it against the synthesised stack:

- botocore calls, told apart by their access key: Step Functions' task integrations call with
  moto's fixed key `ak` (the state machine role); the SageMaker stand-in calls S3 with
  `SAGEMAKER_KEY` (the SageMaker execution role); the tests start jobs with `START_JOB_KEY`
  (the start-job Lambda's role). Each call becomes the IAM requests AWS authorises for it
  (`create_processing_job` with a `RoleArn` and `Tags` is also `iam:PassRole` and
  `sagemaker:AddTags`; `.sync` also manages the EventBridge rule it waits on).
- what SageMaker does with the execution role that no API call shows here (pulling the image
  from ECR, writing the job's logs, publishing training metrics): the stand-in adds those.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import botocore.client

STATES_KEY = "ak"  # moto's Step Functions interpreter signs its task calls with this key
SAGEMAKER_KEY = "sagemaker-execution-role"
START_JOB_KEY = "start-job-lambda"
PRINCIPALS = {STATES_KEY: "states", SAGEMAKER_KEY: "sagemaker", START_JOB_KEY: "start-job"}
# The managed rules `.sync` SageMaker tasks wait on (AWS-documented names).
SYNC_RULES = {
    "Processing": "StepFunctionsGetEventsForSageMakerProcessingJobsRule",
    "Training": "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
}


@dataclass(frozen=True)
class IamRequest:
    principal: str  # "states", "sagemaker", "start-job"
    action: str  # "s3:GetObject"
    resource: str  # an ARN, or "*" for actions without resources
    context: tuple[tuple[str, str], ...] = ()  # condition keys of the request
    call: str = ""  # the API call it came from, for messages


@dataclass
class RequestLog:
    region: str
    account: str
    requests: list[IamRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, principal: str, action: str, resource: str, call: str = "", **context: str):
        request = IamRequest(principal, action, resource, tuple(sorted(context.items())), call)
        with self._lock:
            self.requests.append(request)

    def of(self, principal: str) -> list[IamRequest]:
        return [r for r in self.requests if r.principal == principal]

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"

    # ---- botocore calls ----------------------------------------------------------------------

    @contextmanager
    def recording(self) -> Iterator[RequestLog]:
        original = botocore.client.BaseClient._make_api_call
        log = self

        def make_api_call(client, operation_name, api_params):
            credentials = client._request_signer._credentials
            principal = PRINCIPALS.get(getattr(credentials, "access_key", None))
            if principal is not None:
                service = client.meta.service_model.service_name
                log._from_call(principal, service, operation_name, api_params)
            return original(client, operation_name, api_params)

        with mock.patch.object(botocore.client.BaseClient, "_make_api_call", make_api_call):
            yield self

    def _from_call(self, principal: str, service: str, operation: str, params: dict[str, Any]):
        call = f"{service}.{operation}"
        add = self._adder(principal, call)
        if service == "s3":
            bucket = params.get("Bucket", "")
            obj = f"arn:aws:s3:::{bucket}/{params.get('Key', '')}"
            if operation in ("GetObject", "HeadObject"):
                add("s3:GetObject", obj)
            elif operation in (
                "PutObject",
                "CreateMultipartUpload",
                "UploadPart",
                "CompleteMultipartUpload",
            ):
                add("s3:PutObject", obj)
            elif operation == "AbortMultipartUpload":
                add("s3:AbortMultipartUpload", obj)
            elif operation in ("ListObjectsV2", "ListObjects"):
                add(
                    "s3:ListBucket",
                    f"arn:aws:s3:::{bucket}",
                    **{"s3:prefix": params.get("Prefix", "")},
                )
            elif operation == "CopyObject":
                add("s3:GetObject", f"arn:aws:s3:::{params['CopySource']}")
                add("s3:PutObject", obj)
            else:
                raise NotImplementedError(f"no IAM mapping for {call}")
        elif service == "sagemaker":
            kind = "Processing" if "Processing" in operation else "Training"
            name = params[f"{kind}JobName"]
            # SageMaker's ARNs carry the job name in lower case.
            job = self.arn("sagemaker", f"{kind.lower()}-job/{name.lower()}")
            add(f"sagemaker:{operation}", job)
            if operation.startswith("Create"):
                if params.get("Tags"):
                    add("sagemaker:AddTags", job)
                add(
                    "iam:PassRole",
                    params["RoleArn"],
                    **{"iam:PassedToService": "sagemaker.amazonaws.com"},
                )
                if principal == "states":  # `.sync`: the managed rule it waits on
                    rule = self.arn("events", f"rule/{SYNC_RULES[kind]}")
                    for action in ("events:PutTargets", "events:PutRule", "events:DescribeRule"):
                        add(action, rule)
        elif service == "sns":
            add(f"sns:{operation}", params["TopicArn"])
        elif service == "stepfunctions":
            add(f"states:{operation}", params.get("stateMachineArn") or params["executionArn"])
        else:
            raise NotImplementedError(f"no IAM mapping for {call}")

    def _adder(self, principal: str, call: str):
        def add(action: str, resource: str, **context: str) -> None:
            self.add(principal, action, resource, call, **context)

        return add

    # ---- what SageMaker does with the execution role ----------------------------------------

    def sagemaker_job_started(self, kind: str, job_name: str, image_uri: str) -> None:
        """The image pull and log writes of a job (SageMaker makes them with the job's role)."""
        call = f"sagemaker job {job_name}"
        registry, _, repository = image_uri.partition("/")
        account, _, rest = registry.partition(".dkr.ecr.")
        region = rest.split(".")[0]
        repo = f"arn:aws:ecr:{region}:{account}:repository/{repository.split(':')[0]}"
        self.add("sagemaker", "ecr:GetAuthorizationToken", "*", call)
        for action in (
            "ecr:BatchCheckLayerAvailability",
            "ecr:GetDownloadUrlForLayer",
            "ecr:BatchGetImage",
        ):
            self.add("sagemaker", action, repo, call)
        group = self.arn("logs", f"log-group:/aws/sagemaker/{kind}Jobs")
        stream = f"{group}:log-stream:{job_name}/algo-1-1700000000"
        self.add("sagemaker", "logs:DescribeLogStreams", f"{group}:*", call)
        self.add("sagemaker", "logs:CreateLogStream", stream, call)
        self.add("sagemaker", "logs:PutLogEvents", stream, call)
        if kind == "Training":
            self.add(
                "sagemaker",
                "cloudwatch:PutMetricData",
                "*",
                call,
                **{"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"},
            )
