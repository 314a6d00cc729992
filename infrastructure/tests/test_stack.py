"""Synthesise the CDK app offline and check the template: resources, privacy, least privilege.

Synthesis runs the CDK's jsii runtime on node; each synth takes seconds, so the app is
synthesised twice per run (IAM auth and API-key auth) and shared by the tests below.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

if shutil.which("node") is None:
    pytest.skip(
        "node is not installed: the AWS CDK needs it to synthesise", allow_module_level=True
    )
# Node 20 works; jsii's end-of-life banner would only bury the test output.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk.assertions import Match, Template

from spaceport_infra.app import build_app
from spaceport_infra.config import PipelineConfig
from spaceport_infra.lambda_bundle import HANDLER_FILE, bundle_start_job
from spaceport_infra.stack import START_JOB_HANDLER
from spaceport_orchestration.statemachine import placeholders as asl_placeholders

# Actions AWS does not let a policy scope to a resource, so `Resource: "*"` is the only form.
ALLOWED_UNSCOPED_ACTIONS = {
    "ecr:GetAuthorizationToken",  # ECR login for the SageMaker jobs' image pulls
    "cloudwatch:PutMetricData",  # job metrics (conditioned on the SageMaker namespace)
    # The CloudWatch Logs vended-log-delivery API Step Functions logging needs (AWS-documented).
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


@pytest.fixture(scope="module")
def template(synth: dict[str, Template]) -> Template:
    return synth["iam"]


@pytest.fixture(scope="module")
def resources(template: Template) -> dict[str, Any]:
    return template.to_json()["Resources"]


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in resources.items() if v["Type"] == kind}


def _statements(resources: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for resource in resources.values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Policy":
            found += props["PolicyDocument"]["Statement"]
        elif resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                found += policy["PolicyDocument"]["Statement"]
            assert not props.get("ManagedPolicyArns"), "managed policies are not least privilege"
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_every_pipeline_resource_is_in_the_template(template: Template) -> None:
    for kind, count in [
        ("AWS::S3::Bucket", 1),
        ("AWS::ECR::Repository", 3),
        ("AWS::StepFunctions::StateMachine", 1),
        ("AWS::SNS::Topic", 1),
        ("AWS::Lambda::Function", 1),
        ("AWS::ApiGateway::RestApi", 1),
        ("AWS::CloudWatch::Alarm", 1),
    ]:
        template.resource_count_is(kind, count)
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": {"Ref": "OperatorEmail"}}
    )
    assert "OperatorEmail" in template.to_json()["Parameters"]


def test_bucket_is_encrypted_private_tls_only_and_expires_intermediate_outputs(
    template: Template,
) -> None:
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        Match.object_like(
                            {"Prefix": "intermediate/", "ExpirationInDays": 9, "Status": "Enabled"}
                        )
                    ]
                )
            },
        },
    )
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Principal": {"AWS": "*"},
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_repositories_scan_on_push_and_keep_the_last_images(resources: dict[str, Any]) -> None:
    repos = _of_type(resources, "AWS::ECR::Repository").values()
    names = sorted(r["Properties"]["RepositoryName"] for r in repos)
    assert names == ["spaceport-compress", "spaceport-sfm", "spaceport-train"]
    for repo in repos:
        props = repo["Properties"]
        assert props["ImageScanningConfiguration"] == {"ScanOnPush": True}
        policy = json.loads(props["LifecyclePolicy"]["LifecyclePolicyText"])
        (rule,) = policy["rules"]
        assert rule["selection"]["countType"] == "imageCountMoreThan"
        assert rule["selection"]["countNumber"] == PipelineConfig().images_kept


def test_existing_repositories_are_adopted_not_created(synth: dict[str, Template]) -> None:
    adopted = synth["api-key"]
    adopted.resource_count_is("AWS::ECR::Repository", 0)
    (machine,) = adopted.find_resources("AWS::StepFunctions::StateMachine").values()
    uri = json.dumps(machine["Properties"]["DefinitionSubstitutions"]["SfmImageUri"])
    assert "spaceport-sfm:abc123def456" in uri


def test_unscoped_statements_hold_only_actions_aws_cannot_scope(resources: dict[str, Any]) -> None:
    statements = _statements(resources)
    assert statements
    unscoped = [s for s in statements if "*" in _as_list(s["Resource"])]
    assert unscoped, "expected the ECR login and log-delivery statements"
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for action in _as_list(statement["Action"]):
            assert "*" not in action, f"wildcard action {action}"
    for statement in unscoped:
        extra = set(_as_list(statement["Action"])) - ALLOWED_UNSCOPED_ACTIONS
        assert not extra, f"{sorted(extra)} on Resource '*'"


def test_pass_role_names_only_the_sagemaker_role(resources: dict[str, Any]) -> None:
    (sagemaker_role,) = [
        name
        for name, r in _of_type(resources, "AWS::IAM::Role").items()
        if r["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        == {"Service": "sagemaker.amazonaws.com"}
    ]
    passes = [s for s in _statements(resources) if "iam:PassRole" in _as_list(s["Action"])]
    assert len(passes) == 1
    assert _as_list(passes[0]["Action"]) == ["iam:PassRole"]
    assert _as_list(passes[0]["Resource"]) == [{"Fn::GetAtt": [sagemaker_role, "Arn"]}]
    assert passes[0]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }


def test_state_machine_may_touch_only_its_own_sagemaker_jobs(resources: dict[str, Any]) -> None:
    sagemaker = [
        s
        for s in _statements(resources)
        if any(a.startswith("sagemaker:") for a in _as_list(s["Action"]))
    ]
    assert sagemaker
    actions = {a for s in sagemaker for a in _as_list(s["Action"])}
    assert {"sagemaker:CreateProcessingJob", "sagemaker:StopTrainingJob"} <= actions
    for statement in sagemaker:
        for resource in _as_list(statement["Resource"]):
            text = json.dumps(resource)
            assert "job/spaceport-*" in text, text
    events = [s for s in _statements(resources) if "events:PutRule" in _as_list(s["Action"])]
    rules = json.dumps([s["Resource"] for s in events])
    assert "StepFunctionsGetEventsForSageMakerTrainingJobsRule" in rules
    assert "StepFunctionsGetEventsForSageMakerProcessingJobsRule" in rules
    publish = [s for s in _statements(resources) if "sns:Publish" in _as_list(s["Action"])]
    topic = next(iter(_of_type(resources, "AWS::SNS::Topic")))
    assert [s["Resource"] for s in publish] == [{"Ref": topic}]


def test_start_job_lambda_may_only_start_this_state_machine(resources: dict[str, Any]) -> None:
    (function,) = _of_type(resources, "AWS::Lambda::Function").values()
    props = function["Properties"]
    assert props["Handler"] == START_JOB_HANDLER
    role = props["Role"]["Fn::GetAtt"][0]
    policies = [
        r
        for r in _of_type(resources, "AWS::IAM::Policy").values()
        if {"Ref": role} in r["Properties"]["Roles"]
    ]
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    actions = {a for s in statements for a in _as_list(s["Action"])}
    assert actions == {
        "states:StartExecution",
        "s3:ListBucket",  # is anything under the photo prefix?
        "sns:Subscribe",  # the submitter's address, filtered to their own jobs
        "sns:ListSubscriptionsByTopic",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }, actions
    (start,) = [s for s in statements if "states:StartExecution" in _as_list(s["Action"])]
    machine = next(iter(_of_type(resources, "AWS::StepFunctions::StateMachine")))
    assert start["Resource"] == {"Ref": machine}
    (listing,) = [s for s in statements if "s3:ListBucket" in _as_list(s["Action"])]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["jobs/*/images/*", "uploads/*"]}}
    (subscribe,) = [s for s in statements if "sns:Subscribe" in _as_list(s["Action"])]
    topic = next(iter(_of_type(resources, "AWS::SNS::Topic")))
    assert subscribe["Resource"] == {"Ref": topic}
    env = props["Environment"]["Variables"]
    assert set(env) == {"SPACEPORT_BUCKET", "SPACEPORT_STATE_MACHINE_ARN", "SPACEPORT_TOPIC_ARN"}


def test_state_machine_comes_from_the_committed_definition(resources: dict[str, Any]) -> None:
    (machine,) = _of_type(resources, "AWS::StepFunctions::StateMachine").values()
    props = machine["Properties"]
    committed = PipelineConfig().state_machine_path.read_text()
    # The template carries the committed file verbatim; CloudFormation substitutes at deploy.
    assert props["DefinitionString"] == committed
    substitutions = props["DefinitionSubstitutions"]
    assert set(substitutions) == asl_placeholders(committed)
    assert substitutions["TrainInstanceType"] == "ml.g4dn.xlarge"
    assert substitutions["SfmInstanceType"] == "ml.c6i.2xlarge"
    assert substitutions["CompressInstanceType"] == "ml.c6i.4xlarge"
    (train_repo,) = [
        name
        for name, r in _of_type(resources, "AWS::ECR::Repository").items()
        if r["Properties"]["RepositoryName"] == "spaceport-train"
    ]
    uri_parts = substitutions["TrainImageUri"]["Fn::Join"][1]
    assert uri_parts[-2:] == [{"Ref": train_repo}, ":abc123def456"]
    assert props["LoggingConfiguration"]["Destinations"]
    assert props.get("TracingConfiguration", {"Enabled": False}) == {"Enabled": False}


def test_api_requires_authorisation_and_is_throttled(synth: dict[str, Template]) -> None:
    iam_template, key_template = synth["iam"], synth["api-key"]
    iam_template.has_resource_properties(
        "AWS::ApiGateway::Method", {"HttpMethod": "POST", "AuthorizationType": "AWS_IAM"}
    )
    key_template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {"HttpMethod": "POST", "AuthorizationType": "NONE", "ApiKeyRequired": True},
    )
    key_template.resource_count_is("AWS::ApiGateway::ApiKey", 1)
    key_template.has_resource_properties(
        "AWS::ApiGateway::UsagePlan", {"Throttle": {"RateLimit": 1, "BurstLimit": 5}}
    )
    for template in (iam_template, key_template):
        template.has_resource_properties(
            "AWS::ApiGateway::Stage",
            {
                "MethodSettings": Match.array_with(
                    [Match.object_like({"ThrottlingRateLimit": 1, "ThrottlingBurstLimit": 5})]
                )
            },
        )
        for method in template.find_resources("AWS::ApiGateway::Method").values():
            props = method["Properties"]
            open_method = props["AuthorizationType"] == "NONE" and not props.get("ApiKeyRequired")
            assert not open_method or props["HttpMethod"] == "OPTIONS", props


def test_alarm_watches_failed_runs_and_notifies_the_topic(template: Template) -> None:
    alarm = next(iter(template.find_resources("AWS::CloudWatch::Alarm").values()))
    props = alarm["Properties"]
    metrics = {
        m["MetricStat"]["Metric"]["MetricName"] for m in props["Metrics"] if "MetricStat" in m
    }
    assert "ExecutionsFailed" in metrics
    assert props["Threshold"] == 1
    topic = next(iter(template.find_resources("AWS::SNS::Topic")))
    assert props["AlarmActions"] == [{"Ref": topic}]


def test_cfn_lint_passes_on_the_synthesised_templates(
    synth: dict[str, Template], tmp_path: Path
) -> None:
    paths = []
    for auth, template in synth.items():
        path = tmp_path / f"{auth}.template.json"
        path.write_text(json.dumps(template.to_json(), indent=1))
        paths.append(str(path))
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    # W3005: the CDK adds an explicit DependsOn on a role that the resource also references with
    # GetAtt; redundant, harmless, and not ours to remove.
    options = ["--regions", "us-east-1", "eu-west-1", "--ignore-checks", "W3005"]
    result = subprocess.run([str(cfn_lint), *options, "--", *paths], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_definition_with_an_unknown_substitution_fails_the_synth(tmp_path: Path) -> None:
    asl = tmp_path / "statemachine.asl.json"
    asl.write_text(
        json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Comment": "${Nope}"}}})
    )
    with pytest.raises(Exception, match="Nope"):
        build_app(outdir=str(tmp_path / "out"), context={"state_machine_path": str(asl)})


def test_context_strings_become_typed_settings() -> None:
    values = {
        "train_use_spot": "true",
        "images_kept": "3",
        "intermediate_prefixes": "intermediate/,scratch/",
        "api_auth": "api-key",
    }
    config = PipelineConfig.from_context(values.get)
    assert config.train_use_spot is True
    assert config.images_kept == 3
    assert config.intermediate_prefixes == ("intermediate/", "scratch/")
    with pytest.raises(ValueError, match="api_auth"):
        PipelineConfig.from_context({"api_auth": "open"}.get)
    with pytest.raises(ValueError, match="prefix"):
        PipelineConfig.from_context({"jobs_prefix": "jobs"}.get)
    # SageMaker lower-cases job names in ARNs and the longest name must fit 63 characters
    for bad in ("Spaceport", "spaceport-too-long"):
        with pytest.raises(ValueError, match="name_prefix"):
            PipelineConfig.from_context({"name_prefix": bad}.get)
    assert (
        PipelineConfig.from_context({"sfm_instance_type": "ml.m5.xlarge"}.get).instance_type("sfm")
        == "ml.m5.xlarge"
    )


def test_lambda_bundle_holds_the_handler_without_caches(tmp_path: Path) -> None:
    bundle = bundle_start_job(tmp_path / "bundle")
    assert (bundle / HANDLER_FILE).is_file()
    assert (bundle / "spaceport_shared" / "__init__.py").is_file()
    assert not list(bundle.rglob("__pycache__"))
    assert not list(bundle.rglob("tests"))
    assert {p.name for p in bundle.iterdir()} == {"spaceport_orchestration", "spaceport_shared"}


def test_lambda_handler_runs_from_the_bundle_with_only_what_lambda_provides(
    tmp_path: Path,
) -> None:
    """Import the handler from the bundle alone (the runtime has boto3, not numpy or rich) and
    answer a bad request, which needs no AWS call."""
    bundle = bundle_start_job(tmp_path / "bundle")
    module, _, function = START_JOB_HANDLER.rpartition(".")
    script = f"""
import json, sys
for name in ("numpy", "rich", "PIL", "torch", "pycolmap"):
    sys.modules[name] = None  # importing any of them now fails
sys.path.insert(0, {str(bundle)!r})
import {module} as handler_module
assert handler_module.__file__.startswith({str(bundle)!r}), handler_module.__file__
event = {{"httpMethod": "POST", "body": json.dumps({{"email": "a@b.c"}})}}
reply = handler_module.{function}(event)
print(json.dumps(reply))
"""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "SPACEPORT_BUCKET": "bucket",
        "SPACEPORT_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout.strip().splitlines()[-1])
    assert reply["statusCode"] == 400
    assert "images" in json.loads(reply["body"])["error"]
