"""The results page on AWS: `jobs/<id>/site/` built from what the job's stages wrote to S3.

    jobs/<id>/sfm/{report,flight,georeference}.json     the sfm processing job's output
    jobs/<id>/train/<job>/output/model.tar.gz           report.json (+ scene.ply) of training
    jobs/<id>/train/<job>/output/output.tar.gz          the training curve and held-out renders
    jobs/<id>/compress/{scene.sog,report.json}          the compress processing job's output

The page's links stay relative (../compress/scene.sog), so it is served as it lies in the
bucket: the stack's CloudFront distribution reads the private bucket's jobs/ prefix through an
origin access control. `handler` is the PublishSite Lambda (boto3 and the standard library
only, as the runtime brings them); it returns the page's key.
"""

from __future__ import annotations

import json
import mimetypes
import os
import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from spaceport_orchestration.site.page import SiteInputs, build_site
from spaceport_shared.contract import GEOREFERENCE_NAME, SOG_NAME
from spaceport_shared.report import REPORT_NAME

SITE = "site"
_TYPES = {".js": "text/javascript", ".json": "application/json"}


def _get_json(s3, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


def _latest(s3, bucket: str, prefix: str, suffix: str) -> str | None:
    """The newest key under `prefix` ending in `suffix` (a retried job writes a second one)."""
    found: list[tuple[Any, str]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found += [(o["LastModified"], o["Key"]) for o in page.get("Contents", [])]
    keys = [item for item in found if item[1].endswith(suffix)]
    return max(keys)[1] if keys else None


def _members(archive: Path, wanted, dest: Path) -> list[Path]:
    """Extract the members `wanted(name)` accepts, flattened into `dest`, streaming the rest."""
    written = []
    with tarfile.open(archive, "r|gz") as tar:
        for member in tar:
            name = PurePosixPath(member.name).name
            if member.isfile() and wanted(member.name) and name:
                target = dest / name
                with tar.extractfile(member) as src, open(target, "wb") as out:
                    out.write(src.read())
                written.append(target)
    return written


def publish_job(s3, bucket: str, job_id: str, workdir: Path) -> str:
    """Build and upload `jobs/<job_id>/site/`; returns the key of its index.html."""
    prefix = f"jobs/{job_id}"
    work = Path(workdir)
    reports: dict[str, dict[str, Any]] = {}
    for stage in ("sfm", "compress"):
        report = _get_json(s3, bucket, f"{prefix}/{stage}/{REPORT_NAME}")
        if report is not None:
            reports[stage] = report
    curve, renders = None, []
    model_key = _latest(s3, bucket, f"{prefix}/train/", "/model.tar.gz")
    output_key = _latest(s3, bucket, f"{prefix}/train/", "/output.tar.gz")
    if model_key:
        s3.download_file(bucket, model_key, str(work / "model.tar.gz"))
        for path in _members(work / "model.tar.gz", lambda n: n.endswith(REPORT_NAME), work):
            reports["train"] = json.loads(path.read_text())
    if output_key:
        extras = work / "extras"
        extras.mkdir()
        s3.download_file(bucket, output_key, str(work / "output.tar.gz"))
        for path in _members(work / "output.tar.gz", lambda n: n.endswith(".png"), extras):
            if path.name == "training_curve.png":
                curve = path
            else:
                renders.append(path)
    reports = {s: reports[s] for s in ("sfm", "train", "compress") if s in reports}
    sog = work / SOG_NAME
    sog_key = f"{prefix}/compress/{SOG_NAME}"
    try:
        s3.download_file(bucket, sog_key, str(sog))
    except Exception:  # no model: the page says so
        sog = None
    links = [
        ("compressed model (scene.sog)", sog_key),
        ("trained model and report (model.tar.gz)", model_key),
        (GEOREFERENCE_NAME, f"{prefix}/sfm/{GEOREFERENCE_NAME}"),
        ("sfm report.json", f"{prefix}/sfm/{REPORT_NAME}"),
        ("compress report.json", f"{prefix}/compress/{REPORT_NAME}"),
    ]
    site_prefix = f"{prefix}/{SITE}"
    downloads = [(label, os.path.relpath(key, site_prefix), None) for label, key in links if key]
    site = work / SITE
    build_site(
        SiteInputs(
            title=f"Spaceport job {job_id}",
            reports=reports,
            flight=_get_json(s3, bucket, f"{prefix}/sfm/flight.json"),
            sog=sog,
            sog_href=f"../compress/{SOG_NAME}",
            downloads=downloads,
            curve=curve,
            renders=sorted(renders),
        ),
        site,
    )
    for path in sorted(p for p in site.rglob("*") if p.is_file()):
        key = f"{site_prefix}/{path.relative_to(site).as_posix()}"
        kind = (
            _TYPES.get(path.suffix)
            or mimetypes.guess_type(path.name)[0]
            or "application/octet-stream"
        )
        s3.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": kind})
    return f"{site_prefix}/index.html"


def handler(event: dict[str, Any], context: Any = None, s3=None) -> dict[str, Any]:
    """The PublishSite Lambda: {"bucket", "job_id"} -> {"key", "url"}. The url is the page
    through the distribution, SPACEPORT_SITE_URL, whose origin path is the bucket prefix
    SPACEPORT_SITE_ORIGIN_PATH (jobs/); without them, s3://bucket/key. `s3`: a client to use
    instead of the runtime's (tests)."""
    if s3 is None:
        import boto3

        s3 = boto3.client("s3")
    with tempfile.TemporaryDirectory(prefix="spaceport-site-") as tmp:
        key = publish_job(s3, event["bucket"], event["job_id"], Path(tmp))
    base = os.environ.get("SPACEPORT_SITE_URL", "").rstrip("/")
    if not base:
        return {"key": key, "url": f"s3://{event['bucket']}/{key}"}
    path = key.removeprefix(os.environ.get("SPACEPORT_SITE_ORIGIN_PATH", ""))
    return {"key": key, "url": f"{base}/{path}"}
