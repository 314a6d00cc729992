"""The page on AWS: `jobs/<id>/site/` built from a job's S3 outputs (moto S3), links relative."""

from __future__ import annotations

import io
import json
import posixpath
import tarfile

import boto3
import pytest
from moto import mock_aws
from PIL import Image

from spaceport_orchestration.site import publish_s3
from spaceport_orchestration.site.viewer import vendored_viewer

BUCKET = "spaceport-test-artifacts"
JOB = "job-web-1"


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buffer, "PNG")
    return buffer.getvalue()


def _targz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


REPORTS = {
    "sfm": {"stage": "sfm", "metrics": {"images_total": 3, "images_registered": 2, "points": 9}},
    "train": {"stage": "train", "metrics": {"psnr": 21.5, "gaussians": 1234}},
    "compress": {"stage": "compress", "metrics": {"ratio": 15.25, "output_bytes": 4096}},
}
FLIGHT = {
    "georeferenced": True,
    "cameras": [
        {
            "name": f"IMG_{i}.jpg",
            "placed": i < 2,
            "sfm": [i, 0, 0] if i < 2 else None,
            "gps": [i, 0.1, 0],
        }
        for i in range(3)
    ],
    "points": {"xyz": [[0, 0, -5], [2, 1, -5], [1, 2, -5]], "rgb": [[9, 9, 9]] * 3, "total": 3},
}


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        put = lambda key, body: client.put_object(Bucket=BUCKET, Key=f"jobs/{JOB}/{key}", Body=body)  # noqa: E731
        put("sfm/report.json", json.dumps(REPORTS["sfm"]))
        put("sfm/flight.json", json.dumps(FLIGHT))
        put("sfm/georeference.json", "{}")
        train = f"train/{JOB}-train-0/output"
        put(
            f"{train}/model.tar.gz",
            _targz({"report.json": json.dumps(REPORTS["train"]).encode(), "scene.ply": b"ply\n"}),
        )
        put(
            f"{train}/output.tar.gz",
            _targz({"training_curve.png": _png(), "renders/IMG_0.png": _png()}),
        )
        put("compress/report.json", json.dumps(REPORTS["compress"]))
        put("compress/scene.sog", b"PK fake sog")
        yield client


def test_the_job_gets_its_page_beside_its_outputs(s3, tmp_path):
    key = publish_s3.publish_job(s3, BUCKET, JOB, tmp_path)
    assert key == f"jobs/{JOB}/site/index.html"
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"jobs/{JOB}/site/")["Contents"]
    names = {o["Key"].split("/site/")[1] for o in listed}
    assert {
        "index.html",
        "page.js",
        "page.css",
        "data.js",
        "images/training_curve.png",
        "images/render-IMG_0.png",
    } <= names
    assert ("viewer.html" in names) == (vendored_viewer() is not None)
    head = s3.head_object(Bucket=BUCKET, Key=f"jobs/{JOB}/site/data.js")
    assert head["ContentType"] == "text/javascript"
    data = s3.get_object(Bucket=BUCKET, Key=f"jobs/{JOB}/site/data.js")["Body"].read().decode()
    page = json.loads(data.removeprefix("window.SPACEPORT_PAGE = ").rstrip().rstrip(";"))
    shown = {f"{f['stage']}.{f['source']}": f["value"] for f in page["figures"]}
    assert shown["train.metrics.psnr"] == 21.5 and shown["compress.metrics.ratio"] == 15.25
    assert shown["sfm.metrics.images_registered"] == 2
    assert len(page["flight"]["cameras"]) == 3
    # every download resolves, relative to the page, to an object of the job
    for link in page["downloads"]:
        target = posixpath.normpath(posixpath.join(f"jobs/{JOB}/site", link["href"]))
        s3.head_object(Bucket=BUCKET, Key=target)


def test_the_handler_returns_the_page_address(s3, monkeypatch):
    monkeypatch.setattr(boto3, "client", lambda service, **_: s3)
    key = f"jobs/{JOB}/site/index.html"
    result = publish_s3.handler({"bucket": BUCKET, "job_id": JOB})
    assert result == {"key": key, "url": f"s3://{BUCKET}/{key}"}
    # through the stack's distribution, whose origin path is the bucket's jobs/ prefix
    monkeypatch.setenv("SPACEPORT_SITE_URL", "https://d123.cloudfront.net/")
    monkeypatch.setenv("SPACEPORT_SITE_ORIGIN_PATH", "jobs/")
    result = publish_s3.handler({"bucket": BUCKET, "job_id": JOB})
    assert result["url"] == f"https://d123.cloudfront.net/{JOB}/site/index.html"
