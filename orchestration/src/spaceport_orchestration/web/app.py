"""`spaceport serve`: upload photos, start a job, follow it, open its results page.

A Starlette app over a JobQueue (jobs.py). The page (assets/serve.html) polls /api/jobs; a
job's run folder is served under /jobs/<id>/out/, its page at /jobs/<id>/out/site/index.html.
"""

from __future__ import annotations

import shutil
from importlib import resources

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from spaceport_orchestration.results import SITE_DIR
from spaceport_orchestration.web.jobs import Job, JobQueue, new_job_id
from spaceport_orchestration.web.uploads import DEFAULT_MAX_BYTES, Upload, stage_upload
from spaceport_shared.errors import SpaceportError

MAX_FILES = 5_000
# what a user chooses; everything else is each stage's default
QUALITY = {"preview": {"preset": "demo-cpu"}, "full": {}}
_INT_SETTINGS = {"steps": (1, 1_000_000), "max_image_size": (64, 10_000)}


def _train_settings(form) -> dict[str, str]:
    quality = str(form.get("quality") or "preview")
    if quality not in QUALITY:
        raise SpaceportError(f"Unknown quality {quality!r}; choose one of {', '.join(QUALITY)}.")
    settings = dict(QUALITY[quality])
    for key, (low, high) in _INT_SETTINGS.items():
        text = str(form.get(key) or "").strip()
        if not text:
            continue
        if not text.isdigit() or not low <= int(text) <= high:
            raise SpaceportError(f"The setting {key} must be a whole number from {low} to {high}.")
        settings[key] = text
    return settings


def _job_json(queue: JobQueue, job: Job) -> dict:
    page = queue.out(job.id) / SITE_DIR / "index.html"
    return {
        "id": job.id,
        "name": job.name,
        "state": job.state,
        "photos": job.photos,
        "created": job.created,
        "started": job.started,
        "finished": job.finished,
        "error": job.error,
        "progress": queue.progress(job.id),
        "page": f"/jobs/{job.id}/out/{SITE_DIR}/index.html" if page.is_file() else None,
    }


def create_app(queue: JobQueue, max_upload_bytes: int = DEFAULT_MAX_BYTES) -> Starlette:
    page = (resources.files("spaceport_orchestration.web") / "assets" / "serve.html").read_text()

    async def home(request: Request):
        return HTMLResponse(page)

    async def list_jobs(request: Request):
        return JSONResponse({"jobs": [_job_json(queue, j) for j in queue.jobs()]})

    async def one_job(request: Request):
        job = queue.get(request.path_params["job_id"])
        if job is None:
            return JSONResponse({"error": "No such job."}, status_code=404)
        return JSONResponse(_job_json(queue, job))

    async def create_job(request: Request):
        declared = int(request.headers.get("content-length") or 0)
        job_id = new_job_id()
        try:
            if declared > max_upload_bytes + 1024**2:  # refuse before reading it
                raise SpaceportError(
                    f"The upload is larger than the {max_upload_bytes / 1024**3:.1f} GiB this "
                    "server accepts; upload fewer or smaller photos."
                )
            async with request.form(max_files=MAX_FILES, max_fields=50) as form:
                settings = {"train": _train_settings(form)}
                files = [f for f in form.getlist("photos") if isinstance(f, UploadFile)]
                files = [f for f in files if f.filename]
                if not files:
                    raise SpaceportError("Choose a .zip or a folder of photos to upload.")
                uploads = [Upload(f.filename, f.file) for f in files]
                count = await run_in_threadpool(
                    stage_upload, uploads, queue.images(job_id), max_upload_bytes
                )
            name = str(form.get("name") or "").strip()[:80] or files[0].filename
            job = queue.add(job_id, name, settings, count)
        except BaseException as exc:  # nothing of a refused upload stays behind
            shutil.rmtree(queue.folder(job_id), ignore_errors=True)
            if isinstance(exc, SpaceportError):
                return JSONResponse({"error": str(exc)}, status_code=400)
            raise
        return JSONResponse(_job_json(queue, job), status_code=201)

    return Starlette(
        routes=[
            Route("/", home),
            Route("/api/jobs", list_jobs, methods=["GET"]),
            Route("/api/jobs", create_job, methods=["POST"]),
            Route("/api/jobs/{job_id}", one_job),
            Mount("/jobs", StaticFiles(directory=queue.root, html=True)),
        ]
    )
