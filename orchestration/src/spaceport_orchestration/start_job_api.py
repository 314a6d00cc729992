"""The `/start-job` API: an AWS Lambda handler behind API Gateway (proxy integration).

    POST /start-job
    {"images": "s3://<bucket>/uploads/<folder>/", "email": "pilot@example.com",
     "settings": {"train": {"steps": 7000}}}                       # settings optional

    202 {"job_id": "...", "execution_arn": "...", "images": "...", "subscribed": true}
    with "dry_run": true, nothing starts:
    200 {"dry_run": true, "photos": 400, "estimate": [{"stage": "sfm", "hardware": "ml.c6i...",
         "seconds": ..., "usd": ..., "basis": "..."}, ...], "total_seconds": ..., "total_usd": ...}
    400 {"error": "<what is wrong and what to do>"}

Environment: SPACEPORT_BUCKET (the only bucket jobs may read), SPACEPORT_STATE_MACHINE_ARN,
SPACEPORT_TOPIC_ARN (optional: subscribe the address, filtered to its own jobs).
Handler: `spaceport_orchestration.start_job_api.handler`. The Lambda role needs
`states:StartExecution` on the state machine, `s3:ListBucket` on the bucket, and
`sns:Subscribe` + `sns:ListSubscriptionsByTopic` on the topic.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from typing import Any

import boto3
from botocore.exceptions import ClientError

from spaceport_orchestration.cloud import estimate_job, start_job
from spaceport_shared.errors import SpaceportError

log = logging.getLogger(__name__)
ALLOWED_FIELDS = {"images", "email", "settings", "dry_run"}
MAX_BODY_BYTES = 16 * 1024


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


def _request(event: dict[str, Any]) -> dict[str, Any]:
    method = event.get("httpMethod") or event.get("requestContext", {}).get("http", {}).get(
        "method"
    )
    if method and method.upper() != "POST":
        raise SpaceportError(f"Use POST for /start-job, not {method}.")
    raw = event.get("body")
    if not raw:
        raise SpaceportError("The request has no body; send a JSON object with images and email.")
    if event.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode("utf-8", errors="replace")
    if len(raw.encode("utf-8")) > MAX_BODY_BYTES:
        raise SpaceportError(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SpaceportError(f"The request body is not valid JSON ({exc.msg}).") from None
    if not isinstance(body, dict):
        raise SpaceportError("The request body must be a JSON object with images and email.")
    unknown = sorted(set(body) - ALLOWED_FIELDS)
    if unknown:
        raise SpaceportError(f"Unknown field {unknown[0]!r}; send images, email and settings.")
    for name in ("images", "email"):
        if not isinstance(body.get(name), str) or not body[name].strip():
            raise SpaceportError(f"The field {name!r} is missing; it is required.")
    if not isinstance(body.get("dry_run", False), bool):
        raise SpaceportError("The field 'dry_run' must be true or false.")
    return body


def _dry_run(body: dict[str, Any], bucket: str) -> dict[str, Any]:
    photos, rows = estimate_job(
        s3=boto3.client("s3"),
        bucket=bucket,
        images_uri=body["images"].strip(),
        email=body["email"],
        settings=body.get("settings"),
    )
    return _response(
        200,
        {
            "dry_run": True,
            "photos": photos,
            "estimate": [r.to_dict() for r in rows],
            "total_seconds": round(sum(r.seconds for r in rows), 1),
            "total_usd": round(sum(r.usd or 0.0 for r in rows), 4),
        },
    )


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    bucket = os.environ.get("SPACEPORT_BUCKET")
    state_machine_arn = os.environ.get("SPACEPORT_STATE_MACHINE_ARN")
    if not bucket or not state_machine_arn:
        log.error("SPACEPORT_BUCKET and SPACEPORT_STATE_MACHINE_ARN must be set")
        return _response(500, {"error": "The service is not configured."})
    topic_arn = os.environ.get("SPACEPORT_TOPIC_ARN") or None
    try:
        body = _request(event)
        if body.get("dry_run"):
            return _dry_run(body, bucket)
        started = start_job(
            sfn=boto3.client("stepfunctions"),
            s3=boto3.client("s3"),
            sns=boto3.client("sns") if topic_arn else None,
            bucket=bucket,
            state_machine_arn=state_machine_arn,
            topic_arn=topic_arn,
            images_uri=body["images"].strip(),
            email=body["email"],
            settings=body.get("settings"),
        )
    except SpaceportError as exc:
        return _response(400, {"error": str(exc)})
    except ClientError as exc:
        log.exception("AWS refused the request")
        code = exc.response.get("Error", {}).get("Code", "")
        status = 429 if "Throttl" in code else 502
        return _response(status, {"error": f"AWS refused the request ({code}); try again."})
    log.info("started %s", started.execution_arn)
    return _response(
        202,
        {
            "job_id": started.job_id,
            "execution_arn": started.execution_arn,
            "images": started.images_uri,
            "subscribed": started.subscribed,
        },
    )
