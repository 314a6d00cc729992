"""`spaceport submit/status/definition/synth` and the cloud settings, against moto."""

from __future__ import annotations

import json

import boto3
import fake_stages
import pytest
from moto import mock_aws
from moto_pipeline import BUCKET, REGION, moto_pipeline

from spaceport_orchestration import cli
from spaceport_orchestration.config import load_config
from spaceport_shared.errors import SpaceportError

COMMANDS = {stage: fake_stages.command(stage) for stage in ("sfm", "train", "compress")}
CLOUD_ENV = (
    "SPACEPORT_BUCKET",
    "SPACEPORT_STATE_MACHINE_ARN",
    "SPACEPORT_TOPIC_ARN",
    "SPACEPORT_CONFIG",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in CLOUD_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.config/spaceport/config.toml


def test_missing_settings_are_each_named(monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(SpaceportError) as missing:
        load_config().require("region", "bucket", "state_machine_arn")
    text = str(missing.value)
    for hint in (
        "region (set SPACEPORT_REGION",
        "bucket (set SPACEPORT_BUCKET",
        "state_machine_arn (set SPACEPORT_STATE_MACHINE_ARN",
    ):
        assert hint in text


def test_config_file_then_environment(tmp_path, monkeypatch):
    path = tmp_path / "spaceport.toml"
    path.write_text('[spaceport]\nbucket = "from-file"\nregion = "eu-west-1"\n')
    monkeypatch.setenv("SPACEPORT_CONFIG", str(path))
    monkeypatch.setenv("SPACEPORT_REGION", "eu-central-1")
    config = load_config()
    assert (config.bucket, config.region) == ("from-file", "eu-central-1")
    path.write_text('bucket = "x"\nbukket = "typo"\n')
    with pytest.raises(SpaceportError, match="unknown key 'bukket'"):
        load_config()


def test_submit_uploads_the_folder_and_starts_a_job(tmp_path, monkeypatch, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        (photos / f"DJI_{i:04d}.JPG").write_bytes(b"jpeg")
    (photos / "notes.txt").write_text("not a photo")
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        sfn = boto3.client("stepfunctions", region_name=REGION)
        arn = sfn.create_state_machine(
            name="spaceport",
            definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}),
            roleArn="arn:aws:iam::123456789012:role/sf",
        )["stateMachineArn"]
        monkeypatch.setenv("SPACEPORT_BUCKET", BUCKET)
        monkeypatch.setenv("SPACEPORT_STATE_MACHINE_ARN", arn)
        code = cli.main(
            [
                "submit",
                str(photos),
                "--email",
                "pilot@example.com",
                "--job-id",
                "flight-7",
                "--train-set",
                "steps=3000",
            ]
        )
        assert code == 0
        assert "started job flight-7" in capsys.readouterr().out
        keys = [
            o["Key"]
            for o in boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET)[
                "Contents"
            ]
        ]
        assert sorted(keys) == [f"jobs/flight-7/images/DJI_{i:04d}.JPG" for i in range(3)]
        [execution] = sfn.list_executions(stateMachineArn=arn)["executions"]
        sent = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
        assert sent["images"] == f"s3://{BUCKET}/jobs/flight-7/images/"
        assert sent["train_hyperparameters"] == {"steps": "3000"}

        assert cli.main(["submit", str(tmp_path / "none"), "--email", "pilot@example.com"]) == 1
        assert "does not exist" in capsys.readouterr().err


def test_submit_without_settings_says_what_is_missing(capsys):
    assert cli.main(["submit", "s3://b/x/", "--email", "pilot@example.com"]) == 1
    err = capsys.readouterr().err
    assert "SPACEPORT_BUCKET" in err and "SPACEPORT_STATE_MACHINE_ARN" in err


def test_status_of_a_failed_job(tmp_path, monkeypatch, capsys):
    with moto_pipeline(tmp_path, COMMANDS) as pipeline:
        pipeline.s3.put_object(Bucket=BUCKET, Key="uploads/a/1.jpg", Body=b"x")
        monkeypatch.setenv("SPACEPORT_BUCKET", BUCKET)
        monkeypatch.setenv("SPACEPORT_STATE_MACHINE_ARN", pipeline.state_machine_arn)
        code = cli.main(
            [
                "submit",
                f"s3://{BUCKET}/uploads/a/",
                "--email",
                "pilot@example.com",
                "--job-id",
                "job-st",
            ]
        )
        assert code == 0
        pipeline.wait(
            f"{pipeline.state_machine_arn.replace(':stateMachine:', ':execution:')}:job-st"
        )
        capsys.readouterr()
        assert cli.main(["status", "job-st"]) == 0
        out = capsys.readouterr().out
        assert "job job-st: FAILED" in out
        assert "stage: sfm" in out
        assert "SageMaker job: spaceport-job-st-sfm-0 (Failed)" in out
        assert "failure: Found 1 images" in out
        assert cli.main(["status", "no-such-job"]) == 1
        assert "There is no job no-such-job" in capsys.readouterr().err


def test_definition_render_uses_the_cloud_settings(monkeypatch, capsys):
    assert cli.main(["definition", "--render"]) == 1
    assert "ArtifactBucket" in capsys.readouterr().err
    monkeypatch.setenv("SPACEPORT_BUCKET", "my-bucket")
    args = [
        "definition",
        "--render",
        "--sub",
        "SageMakerRoleArn=arn:aws:iam::1:role/r",
        "--sub",
        "NotificationTopicArn=arn:aws:sns:us-east-1:1:t",
    ]
    for stage in ("Sfm", "Train", "Compress"):
        args += ["--sub", f"{stage}ImageUri={stage.lower()}:1"]
    assert cli.main(args) == 0
    definition = json.loads(capsys.readouterr().out)
    assert definition["States"]["ReadSfmReport"]["Parameters"]["Bucket"] == "my-bucket"


def test_synth_command_makes_a_survey(tmp_path):
    code = cli.main(["synth", str(tmp_path / "survey"), "--preset", "test", "--seed", "3"])
    assert code == 0
    photos = sorted((tmp_path / "survey" / "images").glob("*.jpg"))
    assert len(photos) >= 10
    assert (tmp_path / "survey" / "ground_truth.json").is_file()


def test_synth_help_is_the_generators(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["synth", "--help"])
    assert done.value.code == 0
    assert "usage: spaceport synth" in capsys.readouterr().out
