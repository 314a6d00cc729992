"""`spaceport serve` in Chromium: upload the `test` survey as a zip, follow it to done, open its
results page; a bad upload shows its message and leaves no job behind."""

from __future__ import annotations

import io
import time
import zipfile

import pytest
from browser import Watch, open_browser, pixel_spread, screenshot_dir
from PIL import Image

from spaceport_orchestration.web.app import create_app
from spaceport_orchestration.web.jobs import JobQueue
from spaceport_orchestration.web.server import serving

pytestmark = pytest.mark.slow
JOB_TIMEOUT_S = 400


@pytest.fixture(scope="module")
def survey_zip(tmp_path_factory):
    from spaceport_synth import generate

    root = tmp_path_factory.mktemp("upload")
    survey = generate(root / "survey", preset="test", seed=0)
    path = root / "survey.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for photo in sorted(survey.images_dir.iterdir()):
            zf.write(photo, f"DCIM/{photo.name}")
    return path


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    queue = JobQueue(tmp_path_factory.mktemp("serve") / "jobs").start()
    with serving(create_app(queue, max_upload_bytes=50 * 1024**2)) as base:
        yield base, queue
    queue.stop(timeout=5)


@pytest.fixture(scope="module")
def browser():
    with open_browser() as browser:
        yield browser


def test_upload_follow_and_open_the_result(app_url, browser, survey_zip, tmp_path_factory):
    base, _ = app_url
    shots = screenshot_dir(tmp_path_factory)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page, (base, "data:", "blob:"))
    page.goto(base)
    page.set_input_files("#zip", str(survey_zip))
    page.select_option("select[name=quality]", "full")
    page.fill("input[name=steps]", "300")
    page.fill("input[name=max_image_size]", "160")
    page.fill("input[name=name]", "test survey")
    page.click("#start")
    page.locator("#message.ok", has_text="queued (12 photos)").wait_for(timeout=30_000)

    seen_steps, deadline = set(), time.monotonic() + JOB_TIMEOUT_S
    job = page.locator("[data-job]").first
    while job.get_attribute("data-state") != "done":
        assert job.get_attribute("data-state") in ("queued", "running"), job.inner_text()
        now = page.locator("[data-job] .now")
        if now.count():
            seen_steps.add(now.first.inner_text())
            if "train step" in now.first.inner_text():
                page.screenshot(path=str(shots / "serve-running.png"))
        assert time.monotonic() < deadline, "the job did not finish in time"
        page.wait_for_timeout(500)
    assert any("now: train step" in s and "left" in s for s in seen_steps), seen_steps
    assert watch.problems == []

    with context.expect_page() as opened:
        page.click("[data-job] a.results")
    result = opened.value
    result_watch = Watch(result, (base, "data:", "blob:"))
    result.frame_locator("#viewer-box iframe").locator("body[data-viewer=loaded]").wait_for(
        state="attached", timeout=90_000
    )
    result.wait_for_timeout(1000)
    drawn = result.locator("#viewer-box").screenshot(path=str(shots / "serve-result-viewer.png"))
    assert pixel_spread(drawn) > 12.0
    assert result.locator("#flight-box g.photo").count() == 12
    assert result_watch.problems == []
    context.close()


def test_a_bad_upload_shows_its_message_and_leaves_nothing(app_url, browser, tmp_path):
    base, queue = app_url
    before = sorted(p.name for p in queue.root.iterdir())
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(3):
            image = io.BytesIO()
            Image.new("RGB", (16, 16)).save(image, "JPEG")
            zf.writestr(f"../../IMG_{i}.jpg", image.getvalue())
    page = browser.new_page()
    page.goto(base)
    page.set_input_files("#zip", str(archive))
    page.click("#start")
    message = page.locator("#message.error")
    message.wait_for(timeout=30_000)
    assert "holds a path outside its folder" in message.inner_text()
    assert sorted(p.name for p in queue.root.iterdir()) == before
    page.close()
