"""The `/start-job` Lambda handler against moto: good requests start an execution, bad ones get a
400 that names the problem and start nothing."""

from __future__ import annotations

import base64
import json

import boto3
import pytest
from moto import mock_aws

from spaceport_orchestration.start_job_api import handler
from spaceport_orchestration.statemachine import COMMITTED_PATH, render

REGION = "us-east-1"
BUCKET = "spaceport-api-test"


@pytest.fixture
def api(monkeypatch):
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        for i in range(3):
            s3.put_object(Bucket=BUCKET, Key=f"uploads/flight-1/img{i}.jpg", Body=b"jpeg")
        topic = boto3.client("sns", region_name=REGION).create_topic(Name="spaceport")["TopicArn"]
        definition = render(
            COMMITTED_PATH.read_text(),
            {
                "ArtifactBucket": BUCKET,
                "SageMakerRoleArn": "arn:aws:iam::123456789012:role/sm",
                "NotificationTopicArn": topic,
                "PublishSiteFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:site",
                "SfmImageUri": "sfm:1",
                "TrainImageUri": "train:1",
                "CompressImageUri": "compress:1",
            },
        )
        sfn = boto3.client("stepfunctions", region_name=REGION)
        arn = sfn.create_state_machine(
            name="spaceport", definition=definition, roleArn="arn:aws:iam::123456789012:role/sf"
        )["stateMachineArn"]
        monkeypatch.setenv("SPACEPORT_BUCKET", BUCKET)
        monkeypatch.setenv("SPACEPORT_STATE_MACHINE_ARN", arn)
        monkeypatch.setenv("SPACEPORT_TOPIC_ARN", topic)
        yield sfn, arn, topic


def _event(body, *, encode=False, method="POST"):
    text = body if isinstance(body, str) else json.dumps(body)
    if encode:
        text = base64.b64encode(text.encode()).decode()
    return {"httpMethod": method, "path": "/start-job", "body": text, "isBase64Encoded": encode}


def _executions(sfn, arn):
    return sfn.list_executions(stateMachineArn=arn)["executions"]


def test_a_good_request_starts_the_execution(api):
    sfn, arn, topic = api
    body = {
        "images": f"s3://{BUCKET}/uploads/flight-1/",
        "email": "pilot@example.com",
        "settings": {"train": {"steps": 5000}, "sfm": {"max_image_size": "1600"}},
    }
    response = handler(_event(body, encode=True))
    assert response["statusCode"] == 202, response
    result = json.loads(response["body"])
    [execution] = _executions(sfn, arn)
    assert execution["name"] == result["job_id"]
    sent = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert sent["images"] == body["images"]
    assert sent["train_hyperparameters"] == {"steps": "5000"}
    assert sent["sfm_args"] == ["--ml-root", "/opt/ml", "--set", "max_image_size=1600"]
    subs = boto3.client("sns", region_name=REGION).list_subscriptions_by_topic(TopicArn=topic)
    [sub] = subs["Subscriptions"]
    assert sub["Endpoint"] == "pilot@example.com"
    # a second job for the same address does not subscribe it again
    assert json.loads(handler(_event(body))["body"])["subscribed"] is False


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "not valid JSON"),
        ({"email": "pilot@example.com"}, "'images' is missing"),
        ({"images": f"s3://{BUCKET}/uploads/flight-1/"}, "'email' is missing"),
        ({"images": "s3://other-bucket/x/", "email": "pilot@example.com"}, "outside the bucket"),
        ({"images": "https://example.com/x", "email": "pilot@example.com"}, "not an S3 location"),
        ({"images": f"s3://{BUCKET}/uploads/none/", "email": "pilot@example.com"}, "no files"),
        ({"images": f"s3://{BUCKET}/uploads/flight-1/", "email": "not-an-address"}, "email"),
        (
            {
                "images": f"s3://{BUCKET}/uploads/flight-1/",
                "email": "pilot@example.com",
                "settings": {"train": {"steps": 10**7}},
            },
            "settings.train.steps = 10000000 is outside",
        ),
        (  # SageMaker would stop the job before the budget ends
            {
                "images": f"s3://{BUCKET}/uploads/flight-1/",
                "email": "pilot@example.com",
                "settings": {"train": {"time_budget_min": "600"}},
            },
            "settings.train.time_budget_min = 600 is outside 1..210",
        ),
        (
            {
                "images": f"s3://{BUCKET}/uploads/flight-1/",
                "email": "pilot@example.com",
                "settings": {"render": {}},
            },
            "unknown stage 'render'",
        ),
        (
            {
                "images": f"s3://{BUCKET}/uploads/flight-1/",
                "email": "pilot@example.com",
                "settings": {"train": {"Steps; rm": "1"}},
            },
            "is not a setting name",
        ),
        (
            {"images": f"s3://{BUCKET}/uploads/flight-1/", "email": "a@b.co", "priority": 1},
            "Unknown field 'priority'",
        ),
    ],
)
def test_a_bad_request_gets_400_naming_the_problem(api, body, message):
    sfn, arn, _ = api
    response = handler(_event(body))
    assert response["statusCode"] == 400
    assert message in json.loads(response["body"])["error"]
    assert _executions(sfn, arn) == []


def test_wrong_method_and_empty_body(api):
    sfn, arn, _ = api
    assert handler(_event({}, method="GET"))["statusCode"] == 400
    assert "no body" in json.loads(handler({"httpMethod": "POST"})["body"])["error"]
    assert _executions(sfn, arn) == []


def test_unconfigured_service_is_a_500_without_details(api, monkeypatch):
    monkeypatch.delenv("SPACEPORT_BUCKET")
    response = handler(_event({"images": "s3://x/y/", "email": "a@b.co"}))
    assert response["statusCode"] == 500
    assert "SPACEPORT" not in response["body"]


def test_a_dry_run_estimates_each_stage_and_starts_nothing(api):
    sfn, arn, topic = api
    body = {
        "images": f"s3://{BUCKET}/uploads/flight-1/",
        "email": "pilot@example.com",
        "settings": {"train": {"steps": 3500}},
        "dry_run": True,
    }
    response = handler(_event(body))
    assert response["statusCode"] == 200, response
    result = json.loads(response["body"])
    assert result["dry_run"] is True and result["photos"] == 3
    assert [r["stage"] for r in result["estimate"]] == ["sfm", "train", "compress"]
    train = result["estimate"][1]
    assert train["hardware"] == "ml.g4dn.xlarge" and "3500 steps" in train["basis"]
    assert result["total_usd"] == pytest.approx(sum(r["usd"] for r in result["estimate"]), abs=1e-4)
    assert not _executions(sfn, arn)
    subs = boto3.client("sns", region_name=REGION).list_subscriptions_by_topic(TopicArn=topic)
    assert not subs["Subscriptions"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"dry_run": "yes"}, "dry_run"),
        ({"images": f"s3://{BUCKET}/uploads/none/"}, "no photos"),
        ({"settings": {"train": {"steps": 10**9}}}, "steps"),
    ],
)
def test_a_bad_dry_run_is_refused_with_the_reason(api, change, message):
    body = {"images": f"s3://{BUCKET}/uploads/flight-1/", "email": "pilot@example.com"}
    response = handler(_event({**body, "dry_run": True, **change}))
    assert response["statusCode"] == 400
    assert message in json.loads(response["body"])["error"]
