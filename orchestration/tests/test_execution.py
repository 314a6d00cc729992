"""The committed state machine executed by moto's interpreter, SageMaker jobs run for real by the
shim (moto_sagemaker.py) with the fake stages, started and inspected through `cloud.py`."""

from __future__ import annotations

import io
import json
import tarfile

import boto3
import fake_stages
import pytest
from moto_pipeline import BUCKET, REGION, USER_EMAIL, moto_pipeline, start_test_job

from spaceport_orchestration.cloud import job_status, start_job
from spaceport_shared.errors import SpaceportError

COMMANDS = {stage: fake_stages.command(stage) for stage in ("sfm", "train", "compress")}


def _upload_survey(pipeline, job_id: str, count: int = 5) -> str:
    for i in range(count):
        pipeline.s3.put_object(Bucket=BUCKET, Key=f"uploads/{job_id}/img{i:02d}.JPG", Body=b"jpeg")
    return f"s3://{BUCKET}/uploads/{job_id}/"


def _start(pipeline, job_id: str, settings=None):
    return start_test_job(pipeline, job_id, _upload_survey(pipeline, job_id), settings)


def _status(pipeline, job_id: str):
    return job_status(
        sfn=pipeline.sfn,
        sagemaker=boto3.client("sagemaker", region_name=REGION),
        cloudwatch=boto3.client("cloudwatch", region_name=REGION),
        state_machine_arn=pipeline.state_machine_arn,
        job_id=job_id,
    )


def test_chain_runs_every_stage_and_emails_the_result(tmp_path):
    with moto_pipeline(tmp_path, COMMANDS) as pipeline:
        started = _start(pipeline, "job-ok", {"train": {"steps": "40"}})
        assert started.subscribed  # the user's address joined the topic, filtered to their jobs
        done = pipeline.wait(started.execution_arn)
        assert done["status"] == "SUCCEEDED", done

        names = [job.name for job in pipeline.emulator.jobs]
        assert names == [
            "spaceport-job-ok-sfm-0",
            "spaceport-job-ok-train-0",
            "spaceport-job-ok-compress-0",
        ]
        # the training job got its settings as hyperparameters and ran `<image> train`
        train = pipeline.emulator.jobs[1]
        assert json.loads((train.root / "input/config/hyperparameters.json").read_text()) == {
            "steps": "40"
        }
        assert "metric step=40" in train.log

        # SageMaker's hand-offs: model.tar.gz packed from /opt/ml/model, the .sog uploaded
        model_key = "jobs/job-ok/train/spaceport-job-ok-train-0/output/model.tar.gz"
        body = pipeline.s3.get_object(Bucket=BUCKET, Key=model_key)["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(body)) as tar:
            assert {"scene.ply", "report.json"} <= set(tar.getnames())
        keys = {
            o["Key"]
            for o in pipeline.s3.list_objects_v2(Bucket=BUCKET, Prefix="jobs/job-ok/")["Contents"]
        }
        assert {"jobs/job-ok/sfm/report.json", "jobs/job-ok/compress/scene.sog"} <= keys

        [message] = pipeline.messages()
        assert message["Subject"] == "Spaceport job job-ok finished"
        text = message["Message"]
        assert f"s3://{BUCKET}/jobs/job-ok/compress/scene.sog" in text
        assert f"s3://{BUCKET}/{model_key}" in text
        assert "Location: latitude 55.7125, longitude 13.221 (WGS84)" in text
        georeference = f"s3://{BUCKET}/jobs/job-ok/compress/georeference.json"
        assert f"Georeference (origin, frame, fit): {georeference}" in text
        copied = pipeline.s3.get_object(Bucket=BUCKET, Key=georeference.split("/", 3)[3])
        assert json.loads(copied["Body"].read())["origin"]["lat"] == 55.7125  # the sfm's file
        assert "Images registered: 4 of 5" in text
        assert "Held-out PSNR: 27.25 dB" in text
        assert "(ratio " in text

        status = _status(pipeline, "job-ok")
        assert status.state == "SUCCEEDED"
        assert status.results["sog"] == f"s3://{BUCKET}/jobs/job-ok/compress/scene.sog"
        assert status.results["georeference"] == georeference
        assert status.results["location"].startswith("latitude 55.7125, longitude 13.221")


@pytest.mark.parametrize(
    ("stage", "title", "reason_prefix"),
    [
        ("train", "Gaussian-splat training (train)", "AlgorithmError: "),
        ("compress", "SOG compression (compress)", ""),
    ],
)
def test_a_failing_stage_sends_the_failure_email_and_fails(tmp_path, stage, title, reason_prefix):
    with moto_pipeline(tmp_path, COMMANDS) as pipeline:
        started = _start(pipeline, f"job-bad-{stage}", {stage: {"fail": "true"}})
        done = pipeline.wait(started.execution_arn)
        assert done["status"] == "FAILED"
        assert done["error"] == "Spaceport.StageFailed"

        [message] = pipeline.messages()
        assert message["Subject"] == f"Spaceport job job-bad-{stage} failed"
        text = message["Message"]
        assert f"failed in the {title} stage" in text
        reason = f"{reason_prefix}The fake {stage} stage was told to fail; unset fail to pass."
        assert f"Reason: {reason}" in text
        assert "Error: States.TaskFailed" in text

        ran = [job.name.rsplit("-", 2)[1] for job in pipeline.emulator.jobs]
        assert ran == ["sfm", "train", "compress"][: ran.index(stage) + 1]  # nothing after it
        assert "success" not in text

        status = _status(pipeline, f"job-bad-{stage}")
        assert status.state == "FAILED" and status.stage == stage
        assert "told to fail" in status.failure


def test_throttling_is_retried_under_a_new_job_name(tmp_path):
    with moto_pipeline(tmp_path, COMMANDS, throttle={"-sfm-": 1, "-compress-": 2}) as pipeline:
        started = _start(pipeline, "job-throttled")
        done = pipeline.wait(started.execution_arn)
        assert done["status"] == "SUCCEEDED", done
        names = [job.name for job in pipeline.emulator.jobs]
        assert names == [
            "spaceport-job-throttled-sfm-1",
            "spaceport-job-throttled-train-0",
            "spaceport-job-throttled-compress-2",
        ]
        failures = [
            e["taskFailedEventDetails"]["error"]
            for e in pipeline.history(started.execution_arn)
            if e["type"] == "TaskFailed"
        ]
        assert failures == ["SageMaker.AmazonSageMakerException"] * 3


def test_throttling_that_never_ends_is_reported_with_its_cause(tmp_path):
    with moto_pipeline(tmp_path, COMMANDS, throttle={"-sfm-": 100}) as pipeline:
        started = _start(pipeline, "job-busy")
        done = pipeline.wait(started.execution_arn)
        assert done["status"] == "FAILED"
        assert pipeline.emulator.jobs == []  # no job ever started
        [message] = pipeline.messages()
        assert "failed in the structure from motion (sfm) stage" in message["Message"]
        assert "Reason: Rate exceeded (Service: AmazonSageMaker" in message["Message"]
        assert "Error: SageMaker.AmazonSageMakerException" in message["Message"]


def test_spot_training_when_the_deployment_asks_for_it(tmp_path):
    with moto_pipeline(tmp_path, COMMANDS, substitutions={"TrainUseSpot": "true"}) as pipeline:
        started = _start(pipeline, "job-spot")
        assert pipeline.wait(started.execution_arn)["status"] == "SUCCEEDED"
        request = pipeline.emulator.jobs[1].request
        assert request["enable_managed_spot_training"] is True
        stop = request["stopping_condition"]
        assert stop["MaxWaitTimeInSeconds"] > stop["MaxRuntimeInSeconds"]
        assert (
            request["checkpoint_config"]["S3Uri"]
            == f"s3://{BUCKET}/intermediate/job-spot/checkpoints"
        )


def test_start_job_refuses_what_the_pipeline_cannot_read(tmp_path):
    with moto_pipeline(tmp_path, COMMANDS) as pipeline:
        common = dict(
            sfn=pipeline.sfn,
            s3=pipeline.s3,
            sns=None,
            bucket=BUCKET,
            state_machine_arn=pipeline.state_machine_arn,
            topic_arn=None,
            email=USER_EMAIL,
        )
        with pytest.raises(SpaceportError, match="outside the bucket"):
            start_job(images_uri="s3://someone-else/photos/", **common)
        with pytest.raises(SpaceportError, match="is not under uploads/"):
            start_job(images_uri=f"s3://{BUCKET}/elsewhere/", **common)
        with pytest.raises(SpaceportError, match="no files under"):
            start_job(images_uri=f"s3://{BUCKET}/uploads/empty/", **common)
        assert (
            pipeline.sfn.list_executions(stateMachineArn=pipeline.state_machine_arn)["executions"]
            == []
        )
