"""Test-only shim: moto's Step Functions interpreter runs our SageMaker `.sync` tasks for real.

moto 5.2 executes ASL, but treats `sagemaker` as an unsupported service (no `.sync`: the
execution ends in `States.Runtime`), and its SageMaker marks every job Completed at once without
running anything. This module fills both gaps the way AWS behaves:

- `SageMakerSync`, a task service for `arn:aws:states:::sagemaker:create*Job.sync`: it sends the
  request through boto3 (so botocore validates it), then polls Describe*Job until the job ends,
  as Step Functions does. A failed job raises `States.TaskFailed` with the Describe response as
  the cause; an API error becomes `SageMaker.<Code>` / `SageMaker.AmazonSageMakerException`.
- `SageMakerEmulator`, hooked into moto's SageMaker backend: each created job really runs our
  stage command through a temporary `/opt/ml` tree — inputs downloaded from moto's S3, the
  command run with the job's arguments, outputs uploaded, `/opt/ml/model` packed as
  `<S3OutputPath>/<job>/output/model.tar.gz` (and `/opt/ml/output/data` as `output.tar.gz`),
  the failure file turned into `ExitMessage` / `FailureReason`, metric lines read with the job's
  MetricDefinitions into `FinalMetricDataList`. Job names must be unique, as in SageMaker.
- The `aws-sdk:s3:getObject` integration returns the body as a string (moto hands over the
  botocore stream, which Step Functions never does).
- The ways a job ends on AWS besides success and its own failure: a user's StopProcessingJob
  (SIGTERM, status Stopped), the request's `MaxRuntimeInSeconds` (SIGTERM, training
  `SecondaryStatus` MaxRuntimeExceeded with SageMaker's status message), a managed-spot
  interruption (`interrupt`: SIGTERM once the first checkpoint exists, checkpoints synced to S3,
  the job restarted with them), capacity refusals at create time (`capacity`:
  ResourceLimitExceeded), and outputs changed on their way to S3 (`tamper`: a report lost or
  damaged).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from unittest import mock

import boto3
import botocore.session
from aws_requests import SAGEMAKER_KEY, RequestLog
from botocore.exceptions import ClientError
from moto.sagemaker import models as sagemaker_models
from moto.sagemaker.exceptions import ValidationError
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
    CustomErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_factory,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
    ResourceCondition,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (  # noqa: E501
    StateTaskServiceAwsSdk,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (  # noqa: E501
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

ML_ROOT = PurePosixPath("/opt/ml")
TERMINAL = {"Completed", "Failed", "Stopped"}
# SageMaker's modelled errors keep their name in Step Functions; the rest (throttling,
# validation) surface as the SDK's generic AmazonSageMakerException.
MODELLED_ERRORS = {"ResourceLimitExceeded", "ResourceInUse", "ResourceNotFound", "Conflict"}


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=_to_json))


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(type(value))


class SageMakerSync(StateTaskServiceCallback):
    """`sagemaker:create{Processing,Training}Job.sync` as Step Functions runs them."""

    emulator: SageMakerEmulator  # set by SageMakerEmulator.install

    def __init__(self) -> None:
        # WaitForTaskToken only because moto's callback base needs its endpoint to tidy up
        # after any integration pattern; our definition uses `.sync`.
        super().__init__(
            supported_integration_patterns={
                ResourceCondition.Sync,
                ResourceCondition.WaitForTaskToken,
            }
        )

    def _get_supported_parameters(self) -> set[str]:
        # Step Functions accepts exactly the API's request members.
        model = botocore.session.get_session().get_service_model("sagemaker")
        operation = model.operation_model(
            self.resource.api_action[0].upper() + self.resource.api_action[1:]
        )
        return set(operation.input_shape.members)

    def _kind(self) -> str:
        action = self.resource.api_action
        if action == "createProcessingJob":
            return "Processing"
        if action == "createTrainingJob":
            return "Training"
        raise ValueError(f"the shim does not run sagemaker:{action}")

    def _eval_service_task(
        self, env, resource_runtime_part, normalised_parameters, state_credentials
    ):
        kind = self._kind()
        self.emulator.maybe_throttle(normalised_parameters[f"{kind}JobName"])
        client = boto_client_for(
            service="sagemaker",
            region=resource_runtime_part.region,
            state_credentials=state_credentials,
        )
        create = getattr(client, f"create_{kind.lower()}_job")
        response = create(**normalised_parameters)
        response.pop("ResponseMetadata", None)
        response[f"{kind}JobName"] = normalised_parameters[f"{kind}JobName"]
        env.stack.append(response)

    def _build_sync_resolver(
        self, env, resource_runtime_part, normalised_parameters, state_credentials
    ):
        kind = self._kind()
        created = env.stack.pop()
        name = created[f"{kind}JobName"]
        client = boto_client_for(
            service="sagemaker",
            region=resource_runtime_part.region,
            state_credentials=state_credentials,
        )
        describe = getattr(client, f"describe_{kind.lower()}_job")

        def resolve() -> Any:
            job = describe(**{f"{kind}JobName": name})
            job.pop("ResponseMetadata", None)
            status = job[f"{kind}JobStatus"]
            if status not in TERMINAL:
                return None
            job = _jsonable(job)
            if status == "Completed":
                return job
            raise FailureEventException(
                FailureEvent(
                    env=env,
                    error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                    event_type=HistoryEventType.TaskFailed,
                    event_details=EventDetails(
                        taskFailedEventDetails=TaskFailedEventDetails(
                            resource=self._get_sfn_resource(),
                            resourceType=self._get_sfn_resource_type(),
                            error=StatesErrorNameType.StatesTaskFailed.to_name(),
                            cause=json.dumps(job),
                        )
                    ),
                )
            )

        return resolve

    def _from_error(self, env, ex):
        if isinstance(ex, ClientError):
            code = ex.response["Error"]["Code"]
            name = (
                f"SageMaker.{code}Exception"
                if code in MODELLED_ERRORS
                else "SageMaker.AmazonSageMakerException"
            )
            cause = (
                f"{ex.response['Error']['Message']} (Service: AmazonSageMaker; Status Code: 400;"
                f" Error Code: {code}; Request ID: shim)"
            )
            return FailureEvent(
                env=env,
                error_name=CustomErrorName(error_name=name),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(
                    taskFailedEventDetails=TaskFailedEventDetails(
                        error=name,
                        cause=cause,
                        resource=self._get_sfn_resource(),
                        resourceType=self._get_sfn_resource_type(),
                    )
                ),
            )
        return super()._from_error(env=env, ex=ex)


class AwsSdkWithStringBodies(StateTaskServiceAwsSdk):
    """`aws-sdk:s3:getObject` gives `Body` as text, as Step Functions does."""

    def _eval_service_task(
        self, env, resource_runtime_part, normalised_parameters, state_credentials
    ):
        super()._eval_service_task(
            env, resource_runtime_part, normalised_parameters, state_credentials
        )
        result = env.stack[-1]
        if isinstance(result, dict) and hasattr(result.get("Body"), "read"):
            result["Body"] = result["Body"].read().decode("utf-8")
        env.stack[-1] = _jsonable(result)


@dataclass
class JobRecord:
    name: str
    kind: str
    request: dict[str, Any]
    root: Path
    returncode: int | None = None
    log: str = ""
    process: subprocess.Popen | None = None
    stop_reason: str | None = None  # "Stopped" (a user), "MaxRuntimeExceeded", "Interrupted"
    interruptions: int = 0


@dataclass
class SageMakerEmulator:
    """Runs moto's SageMaker jobs for real. `images` maps an image URI to its ENTRYPOINT argv."""

    images: Mapping[str, Sequence[str]]
    work_root: Path
    region: str = "us-east-1"
    env: Mapping[str, str] = field(default_factory=dict)
    throttle: dict[str, int] = field(default_factory=dict)  # job-name part -> failures to give
    requests: RequestLog | None = None  # records what each job does with the execution role
    capacity: dict[str, int] = field(default_factory=dict)  # job-name part -> refusals to give
    interrupt: set[str] = field(default_factory=set)  # job-name parts whose spot run is interrupted
    tamper: dict[str, dict[str, bytes | None]] = field(default_factory=dict)  # part -> file -> new
    jobs: list[JobRecord] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)

    # ---- hooks -------------------------------------------------------------------------------

    @contextmanager
    def install(self) -> Iterator[SageMakerEmulator]:
        SageMakerSync.emulator = self
        original_factory = state_task_service_factory.state_task_service_for

        def factory(service_name: str):
            if service_name == "sagemaker":
                return SageMakerSync()
            if service_name == "aws-sdk":
                return AwsSdkWithStringBodies()
            return original_factory(service_name)

        backend = sagemaker_models.SageMakerModelBackend
        original_processing = backend.create_processing_job
        original_training = backend.create_training_job
        emulator = self

        def hook(original, kind: str):
            def create(self_backend, **kwargs):
                request = copy.deepcopy(kwargs)  # moto edits the request it keeps
                jobs = getattr(self_backend, f"{kind.lower()}_jobs")
                emulator._check_unique(jobs, kwargs[f"{kind.lower()}_job_name"])
                job = original(self_backend, **kwargs)
                emulator._start(job, kind, request)
                return job

            return create

        create_processing_job = hook(original_processing, "Processing")
        create_training_job = hook(original_training, "Training")
        original_stop = backend.stop_processing_job

        def stop_processing_job(self_backend, processing_job_name):
            original_stop(self_backend, processing_job_name)
            emulator.stop(processing_job_name, "Stopped")

        with (
            mock.patch.object(state_task_factory, "state_task_service_for", factory),
            mock.patch.object(backend, "create_processing_job", create_processing_job),
            mock.patch.object(backend, "create_training_job", create_training_job),
            mock.patch.object(backend, "stop_processing_job", stop_processing_job),
        ):
            try:
                yield self
            finally:
                for thread in self._threads:
                    thread.join(timeout=600)

    def maybe_throttle(self, job_name: str) -> None:
        for part, left in self.throttle.items():
            if part in job_name and left > 0:
                self.throttle[part] = left - 1
                raise ClientError(
                    {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
                    "CreateJob",
                )
        for part, left in self.capacity.items():
            if part in job_name and left > 0:
                self.capacity[part] = left - 1
                message = (
                    "The account-level service limit 'ml.g4dn.xlarge for training job usage' is "
                    "0 Instances, with current utilization of 0 Instances and a request delta of "
                    "1 Instances. Please use AWS Service Quotas to request an increase for this "
                    "quota."
                )
                raise ClientError(
                    {"Error": {"Code": "ResourceLimitExceeded", "Message": message}}, "CreateJob"
                )

    def stop(self, job_name: str, reason: str) -> None:
        """SageMaker's stop: SIGTERM to the container (which may save its work and exit)."""
        for record in self.jobs:
            if record.name == job_name and record.stop_reason is None:
                record.stop_reason = reason
                if record.process is not None and record.process.poll() is None:
                    record.process.send_signal(signal.SIGTERM)

    @staticmethod
    def _check_unique(existing: Mapping[str, Any], name: str) -> None:
        if name in existing:
            raise ValidationError(
                message="Job name must be unique within an AWS account and region, and a job "
                f"with this name already exists ({name})."
            )

    def _start(self, job: Any, kind: str, request: dict[str, Any]) -> None:
        name = request["processing_job_name" if kind == "Processing" else "training_job_name"]
        if kind == "Processing":
            job.processing_job_status = "InProgress"
        else:
            job.training_job_status = "InProgress"
            job.secondary_status = "Training"
        record = JobRecord(name=name, kind=kind, request=request, root=self.work_root / name)
        self.jobs.append(record)
        if self.requests is not None:
            spec = request.get("app_specification") or request["algorithm_specification"]
            image = spec.get("ImageUri") or spec["TrainingImage"]
            self.requests.sagemaker_job_started(kind, name, image)
        thread = threading.Thread(target=self._run, args=(job, record), daemon=True)
        self._threads.append(thread)
        thread.start()

    # ---- the job's life ----------------------------------------------------------------------

    def _s3(self):
        # SageMaker's own S3 reads and writes are the execution role's (aws_requests.py).
        return boto3.client(
            "s3",
            region_name=self.region,
            aws_access_key_id=SAGEMAKER_KEY,
            aws_secret_access_key="testing",
        )

    def _local(self, root: Path, container_path: str) -> Path:
        relative = PurePosixPath(container_path).relative_to(ML_ROOT)
        return root / relative

    def _download(self, uri: str, dest: Path) -> None:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        s3 = self._s3()
        found = False
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                relative = key[len(prefix) :].lstrip("/") or PurePosixPath(key).name
                target = dest / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, key, str(target))
                found = True
        dest.mkdir(parents=True, exist_ok=True)
        if not found:
            raise RuntimeError(f"ClientError: no objects under {uri}")

    def _upload_tree(self, folder: Path, uri: str, job_name: str = "") -> None:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        s3 = self._s3()
        for part, changes in self.tamper.items():
            for relative, data in changes.items() if part in job_name else ():
                target = folder / relative
                target.unlink(missing_ok=True) if data is None else target.write_bytes(data)
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():  # SageMaker skips symlinks
                key = f"{prefix.rstrip('/')}/{path.relative_to(folder).as_posix()}"
                s3.upload_file(str(path), bucket, key)

    def _upload_tar(self, folder: Path, uri: str) -> None:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for path in sorted(folder.rglob("*")):
                tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        self._s3().put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())

    def _execute(self, record: JobRecord, argv: list[str], env: Mapping[str, str]) -> None:
        # The container sees /opt/ml; here it is the job's folder (like a bind mount).
        argv = [
            str(record.root) + a[len("/opt/ml") :] if a.startswith("/opt/ml") else a for a in argv
        ]
        run_env = {**os.environ, **self.env, **env, "SPACEPORT_ML_ROOT": str(record.root)}
        record.returncode, log = self._run_container(record, argv, run_env)
        record.log += log
        (record.root / "job.log").write_text(record.log)

    def _run_container(
        self, record: JobRecord, argv: list[str], env: Mapping[str, str]
    ) -> tuple[int, str]:
        """Run the command as SageMaker runs the container: SIGTERM when the job is stopped,
        runs past MaxRuntimeInSeconds, or (spot) is interrupted; killed 120 s after a SIGTERM."""
        stopping = record.request.get("stopping_condition") or {}
        limit = min(float(stopping.get("MaxRuntimeInSeconds", 600)), 600.0)
        log_path = record.root / f"run-{record.interruptions}.log"
        started, signalled = time.monotonic(), None
        with open(log_path, "w") as out:
            process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
            record.process = process
            while process.poll() is None:
                now = time.monotonic()
                if record.stop_reason is None and now - started > limit:
                    record.stop_reason = "MaxRuntimeExceeded"
                elif record.stop_reason is None and self._interrupt_now(record):
                    record.stop_reason = "Interrupted"
                if record.stop_reason is not None and signalled is None:
                    process.send_signal(signal.SIGTERM)
                    signalled = now
                if signalled is not None and now - signalled > 120:
                    process.kill()
                time.sleep(0.05)
        return process.returncode, log_path.read_text()

    def _interrupt_now(self, record: JobRecord) -> bool:
        """A spot interruption of the first run, once it has written a checkpoint."""
        spot = record.kind == "Training" and record.request.get("enable_managed_spot_training")
        if not spot or record.interruptions or not any(p in record.name for p in self.interrupt):
            return False
        folder = record.root / "checkpoints"
        return folder.is_dir() and any(folder.iterdir())

    def _run(self, job: Any, record: JobRecord) -> None:
        try:
            if record.kind == "Processing":
                self._run_processing(job, record)
            else:
                self._run_training(job, record)
        except Exception as exc:  # the platform's own failure, not the algorithm's
            reason = f"InternalServerError: {type(exc).__name__}: {exc}"
            if record.kind == "Processing":
                job.failure_reason = reason
                job.processing_job_status = "Failed"
            else:
                job.failure_reason = reason
                job.training_job_status = "Failed"

    def _run_processing(self, job: Any, record: JobRecord) -> None:
        request, root = record.request, record.root
        (root / "config").mkdir(parents=True)
        (root / "config" / "processingjobconfig.json").write_text(json.dumps(_jsonable(request)))
        for item in request["processing_inputs"]:
            s3_input = item["S3Input"]
            if not s3_input["LocalPath"].startswith("/opt/ml/processing/"):
                raise RuntimeError(
                    f"LocalPath {s3_input['LocalPath']} is not under /opt/ml/processing/"
                )
            self._download(s3_input["S3Uri"], self._local(root, s3_input["LocalPath"]))
        outputs = request["processing_output_config"]["Outputs"]
        for output in outputs:
            self._local(root, output["S3Output"]["LocalPath"]).mkdir(parents=True, exist_ok=True)
        app = request["app_specification"]
        argv = [*self.images[app["ImageUri"]], *app.get("ContainerArguments", [])]
        self._execute(record, argv, request.get("environment") or {})
        job.processing_end_time = datetime.now(UTC)
        if record.stop_reason is not None:  # SageMaker uploads nothing of a stopped job
            job.processing_job_status = "Stopped"
            return
        if record.returncode == 0:
            for output in outputs:
                local = self._local(root, output["S3Output"]["LocalPath"])
                self._upload_tree(local, output["S3Output"]["S3Uri"], record.name)
            job.processing_job_status = "Completed"
            return
        message = root / "output" / "message"
        job.exit_message = message.read_text()[:1024] if message.exists() else ""
        job.failure_reason = "AlgorithmError: See job logs for more information"
        job.processing_job_status = "Failed"

    def _run_training(self, job: Any, record: JobRecord) -> None:
        request, root = record.request, record.root
        config = root / "input" / "config"
        config.mkdir(parents=True)
        (config / "hyperparameters.json").write_text(json.dumps(request["hyper_parameters"] or {}))
        (config / "inputdataconfig.json").write_text(
            json.dumps({c["ChannelName"]: {} for c in request["input_data_config"]})
        )
        for channel in request["input_data_config"]:
            source = channel["DataSource"]["S3DataSource"]["S3Uri"]
            self._download(source, root / "input" / "data" / channel["ChannelName"])
        checkpoints = request.get("checkpoint_config") or {}
        for folder in (root / "model", root / "output" / "data", root / "checkpoints"):
            folder.mkdir(parents=True, exist_ok=True)
        if checkpoints:
            with contextlib.suppress(RuntimeError):  # no checkpoint yet: a fresh start
                self._download(checkpoints["S3Uri"], root / "checkpoints")
        spec = request["algorithm_specification"]
        argv = [*self.images[spec["TrainingImage"]], "train"]
        env = {**(request.get("environment") or {}), "TRAINING_JOB_NAME": record.name}
        self._execute(record, argv, env)
        if record.stop_reason == "Interrupted":
            # Spot capacity reclaimed: SageMaker syncs the checkpoints, then restarts the job on
            # a new instance with them downloaded into an empty /opt/ml/checkpoints.
            job.secondary_status = "Interrupted"
            self._upload_tree(root / "checkpoints", checkpoints["S3Uri"])
            for folder in (root / "model", root / "output" / "data", root / "checkpoints"):
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(parents=True)
            self._download(checkpoints["S3Uri"], root / "checkpoints")
            record.interruptions, record.stop_reason = record.interruptions + 1, None
            job.secondary_status = "Training"
            self._execute(record, argv, env)
        job.final_metric_data_list = _final_metrics(spec.get("MetricDefinitions", []), record.log)
        job.training_end_time = datetime.now(UTC)
        if checkpoints:
            self._upload_tree(root / "checkpoints", checkpoints["S3Uri"])
        if record.stop_reason is not None:  # stopped: no model is uploaded
            job.training_job_status, job.secondary_status = "Stopped", record.stop_reason
            if record.stop_reason == "MaxRuntimeExceeded":
                job.secondary_status_transitions.append(
                    {
                        "Status": "MaxRuntimeExceeded",
                        "StartTime": datetime.now(UTC),
                        "StatusMessage": "Training job runtime exceeded MaxRuntimeInSeconds "
                        "provided",
                    }
                )
            return
        output_path = request["output_data_config"]["S3OutputPath"].rstrip("/")
        if record.returncode == 0:
            self._upload_tar(root / "model", f"{output_path}/{record.name}/output/model.tar.gz")
            self._upload_tar(
                root / "output" / "data", f"{output_path}/{record.name}/output/output.tar.gz"
            )
            job.training_job_status = job.secondary_status = "Completed"
            return
        failure = root / "output" / "failure"
        text = failure.read_text()[:1024] if failure.exists() else "See job logs"
        job.failure_reason = f"AlgorithmError: {text}"
        job.training_job_status = job.secondary_status = "Failed"


def _final_metrics(definitions: list[dict[str, str]], log: str) -> list[dict[str, Any]]:
    """SageMaker's FinalMetricDataList: the last value each MetricDefinition regex found."""
    now = datetime.now(UTC)
    found = []
    for definition in definitions:
        values = [m.group(1) for m in re.finditer(definition["Regex"], log)]
        if values:
            found.append(
                {"MetricName": definition["Name"], "Value": float(values[-1]), "Timestamp": now}
            )
    return found


def wait_for_execution(client: Any, arn: str, timeout_s: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        description = client.describe_execution(executionArn=arn)
        if description["status"] != "RUNNING":
            return description
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {arn} still running after {timeout_s} s")
        time.sleep(0.25)
