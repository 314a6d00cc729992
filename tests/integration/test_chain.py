"""The whole pipeline with the real stages on the tiny synthetic survey:

- on "AWS": the committed state machine executed by moto, each SageMaker job running the real
  console script through a temporary /opt/ml tree (orchestration/tests/moto_sagemaker.py);
  images in S3 -> the email naming the .sog; a failing stage -> the failure email, FAILED;
- locally: `spaceport run` -> the summary with a held-out PSNR and a .sog.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "orchestration" / "tests"))  # the moto shim and pipeline helpers
sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling helpers under importlib mode

import stage_inputs  # noqa: E402
from moto_pipeline import BUCKET, REGION, moto_pipeline, start_test_job  # noqa: E402

from spaceport_orchestration import cli  # noqa: E402
from spaceport_orchestration.local_run import STAGES, console_script  # noqa: E402

# Small enough for ~1 minute per chain on 2 cores; the train stage's own tests cover quality.
TRAIN_SETTINGS = stage_inputs.CHAIN_TRAIN_SETTINGS


def _stage_commands() -> dict[str, list[str]]:
    missing = [
        s
        for s in STAGES
        if shutil.which(f"spaceport-{s}", path=str(Path(sys.executable).parent)) is None
    ]
    if missing:
        pytest.skip(f"stage console scripts not installed yet: {', '.join(missing)}")
    return {stage: [console_script(f"spaceport-{stage}")] for stage in STAGES}


@pytest.fixture(autouse=True)
def fake_aws_credentials(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="module")
def survey(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("survey") / "test"
    assert cli.main(["synth", str(out), "--preset", "test", "--seed", "1"]) == 0
    return out / "images"


def _upload(pipeline, folder: Path, prefix: str, limit: int | None = None) -> str:
    for path in sorted(folder.glob("*"))[:limit]:
        pipeline.s3.upload_file(str(path), BUCKET, f"{prefix}/{path.name}")
    return f"s3://{BUCKET}/{prefix}/"


def _start(pipeline, job_id: str, images_uri: str):
    return start_test_job(pipeline, job_id, images_uri, {"train": TRAIN_SETTINGS}, subscribe=False)


@pytest.mark.slow
def test_chain_on_aws_emulation_emails_the_sog(tmp_path, survey):
    commands = _stage_commands()
    with moto_pipeline(tmp_path, commands) as pipeline:
        started = _start(pipeline, "synth-ok", _upload(pipeline, survey, "uploads/synth-ok"))
        done = pipeline.wait(started.execution_arn, timeout_s=900)
        logs = "\n".join(f"--- {j.name}\n{j.log[-3000:]}" for j in pipeline.emulator.jobs)
        assert done["status"] == "SUCCEEDED", logs
        sog_key = "jobs/synth-ok/compress/scene.sog"
        assert pipeline.s3.head_object(Bucket=BUCKET, Key=sog_key)["ContentLength"] > 0
        [message] = pipeline.messages()
        text = message["Message"]
        assert f"s3://{BUCKET}/{sog_key}" in text, text
        assert "Held-out PSNR: n/a" not in text, text  # read from the real train metric lines
        assert "Images registered: " in text


@pytest.mark.slow
def test_a_real_stage_failure_emails_the_reason(tmp_path, survey):
    commands = _stage_commands()
    with moto_pipeline(tmp_path, commands) as pipeline:
        images = _upload(pipeline, survey, "uploads/synth-bad", limit=2)  # too few photos
        started = _start(pipeline, "synth-bad", images)
        done = pipeline.wait(started.execution_arn, timeout_s=300)
        assert done["status"] == "FAILED"
        [message] = pipeline.messages()
        text = message["Message"]
        assert "failed in the structure from motion (sfm) stage" in text
        exit_message = pipeline.emulator.jobs[0].root / "output" / "message"
        assert exit_message.read_text().strip() in text  # the stage's own sentence, verbatim
        assert [j.name for j in pipeline.emulator.jobs] == ["spaceport-synth-bad-sfm-0"]


@pytest.mark.slow
def test_local_run_prints_the_summary(tmp_path, survey, capsys):
    _stage_commands()
    out = tmp_path / "run"
    args = ["run", str(survey), "--out", str(out)]
    for key, value in TRAIN_SETTINGS.items():
        args += ["--train-set", f"{key}={value}"]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert "held-out PSNR" in printed and "n/a dB" not in printed
    # the run's top-level .sog (a link to the compress stage's output) is the one named
    assert str(out / "scene.sog") in printed
    assert (out / "scene.sog").samefile(
        next((out / "compress" / "processing" / "output").glob("*.sog"))
    )
    assert (out / "scene.sog").stat().st_size > 0


def test_demo_asks_the_train_stage_for_its_demo_preset():
    settings = pytest.importorskip("spaceport_train.settings")
    from spaceport_shared.settings import parse_settings

    demo = parse_settings(settings.TrainSettings, cli.DEMO_TRAIN_SETTINGS)
    assert demo.preset == "demo-cpu"
    assert (demo.steps, demo.max_image_size, demo.sh_degree) == (2000, 320, 0)
    assert 0 < demo.time_budget_min <= 6  # training itself within 5 minutes
