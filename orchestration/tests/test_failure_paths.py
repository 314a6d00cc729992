"""Every way a cloud run can go wrong, executed: the committed state machine under moto, the
SageMaker stand-in ending jobs as AWS does. Each asserts the execution's status and what the
user reads."""

from __future__ import annotations

import io
import json
import tarfile
import time

import boto3
import fake_stages
from moto_pipeline import ACCOUNT, BUCKET, REGION, moto_pipeline, start_test_job

from spaceport_orchestration.stages import STAGES
from spaceport_orchestration.statemachine import REPORT_UNREADABLE, STOP_REASONS, STOPPED

COMMANDS = {stage: fake_stages.command(stage) for stage in STAGES}


def _run(pipeline, job_id: str, settings=None) -> tuple[dict, str]:
    """Start a job on 4 uploaded photos, wait for it; (the execution, the user's message)."""
    for i in range(4):
        pipeline.s3.put_object(Bucket=BUCKET, Key=f"uploads/{job_id}/img{i}.jpg", Body=b"jpeg")
    started = start_test_job(pipeline, job_id, f"s3://{BUCKET}/uploads/{job_id}/", settings)
    done = pipeline.wait(started.execution_arn)
    messages = pipeline.messages()
    return done, messages[0]["Message"] if messages else ""


def _failed(done: dict, text: str, stage_title: str, reason: str) -> None:
    assert done["status"] == "FAILED" and done["error"] == "Spaceport.StageFailed", done
    assert f"failed in the {stage_title} stage" in text, text
    assert f"Reason: {reason}" in text, text


def test_a_job_stopped_by_its_user(tmp_path):
    with moto_pipeline(tmp_path, COMMANDS) as pipeline:
        for i in range(4):
            pipeline.s3.put_object(Bucket=BUCKET, Key=f"uploads/stop/img{i}.jpg", Body=b"jpeg")
        started = start_test_job(
            pipeline, "job-stop", f"s3://{BUCKET}/uploads/stop/", {"sfm": {"delay_s": "10"}}
        )
        deadline = time.monotonic() + 60
        while not (pipeline.emulator.jobs and pipeline.emulator.jobs[0].process):
            assert time.monotonic() < deadline, "the sfm job never started"
            time.sleep(0.1)
        boto3.client("sagemaker", region_name=REGION).stop_processing_job(
            ProcessingJobName=pipeline.emulator.jobs[0].name
        )
        done = pipeline.wait(started.execution_arn)
        [message] = pipeline.messages()
        _failed(done, message["Message"], "structure from motion (sfm)", STOPPED)
        assert len(pipeline.emulator.jobs) == 1  # nothing ran after it


def test_a_training_job_past_its_max_runtime(tmp_path):
    limits = {"TrainMaxRuntimeSeconds": "2"}
    with moto_pipeline(tmp_path, COMMANDS, substitutions=limits) as pipeline:
        done, text = _run(pipeline, "job-slow", {"train": {"steps": "200", "delay_s": "0.1"}})
        _failed(done, text, "Gaussian-splat training (train)", STOP_REASONS["MaxRuntimeExceeded"])
        train = pipeline.emulator.jobs[-1]
        described = boto3.client("sagemaker", region_name=REGION).describe_training_job(
            TrainingJobName=train.name
        )
        assert described["TrainingJobStatus"] == "Stopped"
        assert described["SecondaryStatus"] == "MaxRuntimeExceeded"
        assert "exceeded MaxRuntimeInSeconds" in json.dumps(
            described["SecondaryStatusTransitions"], default=str
        )


def test_a_missing_sfm_report(tmp_path):
    with moto_pipeline(tmp_path, COMMANDS, tamper={"-sfm-": {"report.json": None}}) as pipeline:
        done, text = _run(pipeline, "job-noreport")
        _failed(done, text, "sfm report", REPORT_UNREADABLE.format("sfm"))
        assert "NoSuchKey" in text, text  # the error line names S3's


def test_a_compress_report_that_is_not_json(tmp_path):
    damaged = {"-compress-": {"report.json": b"{not json"}}
    with moto_pipeline(tmp_path, COMMANDS, tamper=damaged) as pipeline:
        done, text = _run(pipeline, "job-badreport")
        _failed(done, text, "compress report", REPORT_UNREADABLE.format("compress"))
        assert "Error: States." in text, text


def test_a_training_job_with_no_psnr_metric_still_succeeds(tmp_path):
    with moto_pipeline(tmp_path, COMMANDS) as pipeline:
        done, text = _run(pipeline, "job-nopsnr", {"train": {"no_psnr": "true"}})
        assert done["status"] == "SUCCEEDED", done
        assert "Held-out PSNR: n/a dB" in text, text


def test_capacity_refusals_are_retried_then_reported(tmp_path):
    with moto_pipeline(tmp_path, COMMANDS, capacity={"-train-": 2}) as pipeline:
        done, _ = _run(pipeline, "job-busy-ok")
        assert done["status"] == "SUCCEEDED", done
        assert [j.name for j in pipeline.emulator.jobs][1] == "spaceport-job-busy-ok-train-2"
    with moto_pipeline(tmp_path / "never", COMMANDS, capacity={"-train-": 100}) as pipeline:
        done, text = _run(pipeline, "job-busy")
        _failed(done, text, "Gaussian-splat training (train)", "The account-level service limit")
        assert "Error: SageMaker.ResourceLimitExceededException" in text
        assert "request an increase" in text  # the cause, plain text, shown as it is
        assert [j.name.rsplit("-", 2)[1] for j in pipeline.emulator.jobs] == ["sfm"]


def test_a_failed_notification_leaves_the_true_status_and_the_result(tmp_path):
    gone = {"NotificationTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:deleted-topic"}
    with moto_pipeline(tmp_path, COMMANDS, substitutions=gone) as pipeline:
        done, text = _run(pipeline, "job-mute")
        assert done["status"] == "SUCCEEDED", done
        assert text == ""  # nothing reached the user ...
        output = json.loads(done["output"])
        assert "NotFound" in output["notification_error"]["Error"]
        sog = pipeline.s3.head_object(Bucket=BUCKET, Key="jobs/job-mute/compress/scene.sog")
        assert sog["ContentLength"] > 0  # ... but the result is there
        done, _ = _run(pipeline, "job-mute-bad", {"compress": {"fail": "true"}})
        assert done["status"] == "FAILED" and done["error"] == "Spaceport.StageFailed"


def test_a_spot_interruption_resumes_from_the_synced_checkpoints(tmp_path):
    spot = {"TrainUseSpot": "true"}
    with moto_pipeline(tmp_path, COMMANDS, substitutions=spot, interrupt={"-train-"}) as pipeline:
        done, text = _run(pipeline, "job-spot", {"train": {"steps": "60", "delay_s": "0.05"}})
        assert done["status"] == "SUCCEEDED", done
        train = pipeline.emulator.jobs[1]
        assert train.interruptions == 1
        assert "resumed from step 0" in train.log
        key = f"jobs/job-spot/train/{train.name}/output/model.tar.gz"
        body = pipeline.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(body)) as tar:
            report = json.load(tar.extractfile("report.json"))
        assert 10 <= report["metrics"]["resumed_from"] < 60  # the second run continued
        assert report["metrics"]["steps"] == 60
        assert "Held-out PSNR: 27.25 dB" in text
