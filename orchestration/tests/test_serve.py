"""`spaceport serve` without a browser: upload checks (one message, nothing left behind) and
the job queue (one at a time, in order, surviving a restart) on the fake stages."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import datetime

import fake_stages
import pytest
from PIL import Image

from spaceport_orchestration.web.jobs import JOB_FILE, JobQueue
from spaceport_orchestration.web.uploads import Upload, stage_upload
from spaceport_shared.errors import SpaceportError

COMMANDS = {stage: fake_stages.command(stage) for stage in ("sfm", "train", "compress")}


def _jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (seed * 40 % 255, 90, 160)).save(buffer, "JPEG")
    return buffer.getvalue()


def _zip(members: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    buffer.seek(0)
    return buffer


def test_a_zip_of_photos_is_staged(tmp_path):
    archive = _zip({f"card/DCIM/IMG_{i}.jpg": _jpeg(i) for i in range(4)})
    count = stage_upload([Upload("flight.zip", archive)], tmp_path / "images")
    assert count == 4
    assert sorted(p.name for p in (tmp_path / "images").rglob("*.jpg")) == [
        f"IMG_{i}.jpg" for i in range(4)
    ]
    assert not list((tmp_path / "images").glob("*.zip"))


def test_a_folder_of_photos_is_staged(tmp_path):
    uploads = [Upload(f"survey/IMG_{i}.jpg", io.BytesIO(_jpeg(i))) for i in range(3)]
    assert stage_upload(uploads, tmp_path / "images") == 3
    assert (tmp_path / "images" / "survey" / "IMG_2.jpg").is_file()


@pytest.mark.parametrize(
    ("uploads", "message"),
    [
        (
            lambda: [Upload("x.zip", _zip({"../evil.jpg": _jpeg(0), "a.jpg": _jpeg(1)}))],
            "outside its folder",
        ),
        (lambda: [Upload("../a.jpg", io.BytesIO(_jpeg(0)))], "outside its folder"),
        (
            lambda: [Upload(f"notes{i}.txt", io.BytesIO(b"hello")) for i in range(4)],
            "None of the 4 uploaded files is a photo",
        ),
        (
            lambda: [
                Upload("fake.jpg", io.BytesIO(b"not a jpeg")),
                Upload("a.jpg", io.BytesIO(_jpeg(1))),
            ],
            "holds 1 photos",
        ),
        (
            lambda: [Upload(f"IMG_{i}.jpg", io.BytesIO(_jpeg(i) + b"\0" * 3000)) for i in range(5)],
            "larger than",
        ),
    ],
    ids=["zip-slip", "path-name", "not-images", "too-few", "too-large"],
)
def test_a_bad_upload_gets_one_message_and_leaves_nothing(tmp_path, uploads, message):
    with pytest.raises(SpaceportError, match=message) as refused:
        stage_upload(uploads(), tmp_path / "images", max_bytes=10_000)
    text = str(refused.value)
    assert text.endswith(".") and not re.search(r"[.;]\s+[A-Z]", text)  # one sentence
    assert list(tmp_path.iterdir()) == []


def _add(queue: JobQueue, name: str, n: int = 3) -> str:
    job_id = f"job-{name}"
    uploads = [Upload(f"IMG_{i}.jpg", io.BytesIO(_jpeg(i))) for i in range(n)]
    count = stage_upload(uploads, queue.images(job_id))
    queue.add(job_id, name, {"train": {"steps": "20", "delay_s": "0.01"}}, count)
    return job_id


def test_two_jobs_queue_one_after_the_other(tmp_path):
    queue = JobQueue(tmp_path / "jobs", commands=COMMANDS)
    first, second = _add(queue, "a"), _add(queue, "b")
    queue.start()
    assert queue.wait_idle(120)
    queue.stop(5)
    a, b = queue.get(first), queue.get(second)
    assert (a.state, b.state) == ("done", "done"), (a.error, b.error)
    assert datetime.fromisoformat(b.started) >= datetime.fromisoformat(a.finished)
    for job in (a, b):
        out = queue.out(job.id)
        assert (out / "site" / "index.html").is_file()
        assert (
            json.loads((out / "summary.json").read_text())["stages"]["train"]["metrics"]["steps"]
            == 20
        )


def test_jobs_survive_a_restart_and_a_stopped_job_runs_again(tmp_path):
    root = tmp_path / "jobs"
    before = JobQueue(root, commands=COMMANDS)  # never started: its job stays queued
    queued = _add(before, "waiting")
    # a job the server was running when it stopped
    running = _add(before, "interrupted")
    state = json.loads((root / running / JOB_FILE).read_text())
    (root / running / JOB_FILE).write_text(json.dumps({**state, "state": "running"}))

    after = JobQueue(root, commands=COMMANDS).start()
    assert {j.id for j in after.jobs()} == {queued, running}
    assert after.wait_idle(120)
    after.stop(5)
    assert [after.get(j).state for j in (queued, running)] == ["done", "done"]


def test_a_failing_job_keeps_its_message(tmp_path):
    queue = JobQueue(tmp_path / "jobs", commands=COMMANDS)
    job_id = _add(queue, "bad", n=3)
    queue.get(job_id).settings["sfm"] = {"fail": "true"}
    queue.start()
    assert queue.wait_idle(60)
    queue.stop(5)
    job = queue.get(job_id)
    assert job.state == "failed"
    assert "The fake sfm stage was told to fail" in job.error
