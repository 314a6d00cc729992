"""Every AWS request a pipeline run makes, evaluated against the synthesised stack's policies.

moto executes the committed state machine (the SageMaker stand-in running the fake stages) but
does not evaluate IAM. Here each request of the runs, recorded per principal in IAM's terms
(orchestration/tests/aws_requests.py), is decided by IAM's rules (iam_policy.py) against the
roles' policies and the bucket's and topic's resource policies of the template `cdk synth`
makes, with the same physical names the moto run used.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

if shutil.which("node") is None:
    pytest.skip(
        "node is not installed: the AWS CDK needs it to synthesise", allow_module_level=True
    )

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "orchestration" / "tests"))

import fake_stages  # noqa: E402
from aws_requests import IamRequest  # noqa: E402
from iam_policy import Request, TemplatePolicies, evaluate  # noqa: E402
from moto_pipeline import ACCOUNT, BUCKET, REGION, moto_pipeline, start_test_job  # noqa: E402

from spaceport_orchestration.stages import STAGES  # noqa: E402

COMMANDS = {stage: fake_stages.command(stage) for stage in STAGES}
ROLES = {  # principal -> (the role's logical id prefix in the template, its ARN in the moto run)
    "states": ("StateMachineRole", f"arn:aws:iam::{ACCOUNT}:role/spaceport-states"),
    "sagemaker": ("SageMakerExecutionRole", f"arn:aws:iam::{ACCOUNT}:role/spaceport-sagemaker"),
    "start-job": ("StartJobRole", f"arn:aws:iam::{ACCOUNT}:role/spaceport-start-job"),
}
# What each principal must be seen doing, so the recording cannot silently miss a path.
EXPECTED_ACTIONS = {
    "states": {
        "sagemaker:CreateProcessingJob",
        "sagemaker:DescribeProcessingJob",
        "sagemaker:CreateTrainingJob",
        "sagemaker:DescribeTrainingJob",
        "sagemaker:AddTags",
        "iam:PassRole",
        "events:PutRule",
        "events:PutTargets",
        "events:DescribeRule",
        "s3:GetObject",
        "sns:Publish",
    },
    "sagemaker": {
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject",
        "ecr:GetAuthorizationToken",
        "ecr:BatchGetImage",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "cloudwatch:PutMetricData",
    },
    "start-job": {
        "states:StartExecution",
        "s3:ListBucket",
        "sns:Subscribe",
        "sns:ListSubscriptionsByTopic",
    },
}


def _record_runs(tmp_path: Path) -> tuple[list[IamRequest], str, str]:
    """A spot run that succeeds from uploads/ and an on-demand one whose compress stage fails,
    its photos under jobs/<id>/images/ (as `spaceport submit` uploads them)."""
    requests: list[IamRequest] = []
    runs = [
        ("iam-ok", "uploads/iam-ok/", {"TrainUseSpot": "true"}, None),
        ("iam-bad", "jobs/iam-bad/images/", {}, {"compress": {"fail": "true"}}),
    ]
    for job_id, prefix, substitutions, settings in runs:
        with moto_pipeline(tmp_path / job_id, COMMANDS, substitutions=substitutions) as pipeline:
            for i in range(4):
                pipeline.s3.put_object(Bucket=BUCKET, Key=f"{prefix}img{i}.jpg", Body=b"jpeg")
            started = start_test_job(pipeline, job_id, f"s3://{BUCKET}/{prefix}", settings)
            status = pipeline.wait(started.execution_arn)["status"]
            assert status == ("SUCCEEDED" if job_id == "iam-ok" else "FAILED")
            requests += pipeline.requests.requests
            topic_arn, machine_arn = pipeline.topic_arn, pipeline.state_machine_arn
    return requests, topic_arn, machine_arn


def _policies(template: dict, topic_arn: str, machine_arn: str) -> TemplatePolicies:
    resources = template["Resources"]

    def find(kind: str, prefix: str) -> str:
        (found,) = [k for k, v in resources.items() if v["Type"] == kind and k.startswith(prefix)]
        return found

    refs: dict[str, str] = {
        find("AWS::S3::Bucket", "Artifacts"): BUCKET,
        find("AWS::SNS::Topic", "Notifications"): topic_arn,
        find("AWS::StepFunctions::StateMachine", "Pipeline"): machine_arn,
    }
    arns: dict[str, str] = {
        find("AWS::S3::Bucket", "Artifacts"): f"arn:aws:s3:::{BUCKET}",
        find("AWS::StepFunctions::StateMachine", "Pipeline"): machine_arn,
    }
    for prefix, arn in ROLES.values():
        role = find("AWS::IAM::Role", prefix)
        refs[role], arns[role] = arn.rpartition("/")[2], arn
    for logical, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::ECR::Repository":
            name = props["RepositoryName"]
            refs[logical] = name
            arns[logical] = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}"
        elif resource["Type"] == "AWS::Logs::LogGroup":
            name = props.get("LogGroupName", f"/aws/lambda/{logical}")
            refs[logical] = name
            arns[logical] = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*"
    return TemplatePolicies(template, region=REGION, account=ACCOUNT, refs=refs, arns=arns)


def _decide(policies: TemplatePolicies, request: IamRequest, secure: bool = True):
    prefix, role_arn = ROLES[request.principal]
    identity = policies.identity_statements(policies.logical_id("AWS::IAM::Role", prefix))
    context = {
        "aws:SecureTransport": "true" if secure else "false",
        "aws:PrincipalArn": role_arn,
        **dict(request.context),
    }
    return evaluate(
        Request(request.action, request.resource, role_arn, context),
        identity,
        policies.resource_statements(request.resource),
    )


@pytest.fixture(scope="module")
def recorded(synth, tmp_path_factory):
    requests, topic_arn, machine_arn = _record_runs(tmp_path_factory.mktemp("iam"))
    return requests, _policies(synth["iam"].to_json(), topic_arn, machine_arn)


def test_every_request_of_the_runs_is_allowed_by_the_stack(recorded):
    requests, policies = recorded
    for principal, actions in EXPECTED_ACTIONS.items():
        seen = {r.action for r in requests if r.principal == principal}
        assert actions <= seen, f"{principal} was never seen doing {sorted(actions - seen)}"
    denied = []
    for request in sorted(set(requests), key=lambda r: (r.principal, r.action, r.resource)):
        decision = _decide(policies, request)
        if not decision.allowed:
            denied.append(
                f"{request.principal}: {request.action} on {request.resource} "
                f"{dict(request.context) or ''} ({request.call}): {decision.reason}"
            )
    assert not denied, "IAM would refuse:\n" + "\n".join(denied)


@pytest.mark.parametrize(
    ("principal", "action", "resource", "context"),
    [
        # another job's SageMaker jobs (no spaceport- prefix) and another stack's
        ("states", "sagemaker:CreateProcessingJob", "processing-job/job-ok-sfm-0", {}),
        ("states", "sagemaker:StopTrainingJob", "training-job/other-job-train-0", {}),
        # passing the role to another service
        ("states", "iam:PassRole", "role", {"iam:PassedToService": "ec2.amazonaws.com"}),
        # data outside the job prefixes, uploads are read-only for the jobs
        ("sagemaker", "s3:GetObject", "s3:private/secret.txt", {}),
        ("sagemaker", "s3:PutObject", "s3:uploads/someone/img.jpg", {}),
        ("sagemaker", "s3:ListBucket", "s3:", {"s3:prefix": "private/"}),
        # the Lambda lists only photo prefixes and starts only this state machine
        ("start-job", "s3:ListBucket", "s3:", {"s3:prefix": "jobs/x/sfm/"}),
        ("start-job", "states:StartExecution", "other-machine", {}),
    ],
)
def test_requests_outside_the_pipeline_are_denied(recorded, principal, action, resource, context):
    _, policies = recorded
    if resource.startswith("s3:"):
        key = resource.removeprefix("s3:")
        arn = f"arn:aws:s3:::{BUCKET}/{key}" if key else f"arn:aws:s3:::{BUCKET}"
    elif action.startswith("sagemaker:"):
        arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{resource}"
    elif action == "iam:PassRole":
        arn = ROLES["sagemaker"][1]
    else:
        arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{resource}"
    request = IamRequest(principal, action, arn, tuple(context.items()))
    assert not _decide(policies, request).allowed


def test_a_request_without_tls_is_denied_by_the_bucket_policy(recorded):
    requests, policies = recorded
    read = next(r for r in requests if r.principal == "sagemaker" and r.action == "s3:GetObject")
    assert _decide(policies, read).allowed
    decision = _decide(policies, read, secure=False)
    assert not decision.allowed and "explicitly denied" in decision.reason
