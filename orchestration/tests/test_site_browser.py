"""The results page of a real run (the `test` survey through the three stages) in Chromium:
opened from disk and served by `spaceport view`, no console error, no failed request, nothing
fetched from another origin, the figures equal the reports, the viewer draws, every photo is in
the flight view."""

from __future__ import annotations

import json
import time

import pytest
from browser import Watch, open_browser, pixel_spread, screenshot_dir

from spaceport_orchestration.local_run import run_local
from spaceport_orchestration.results import publish_local
from spaceport_orchestration.web.server import serving
from spaceport_orchestration.web.view import view_app

# enough training for a model that is visibly a model, in ~1 min on 2 cores
CHAIN_SETTINGS = {"train": {"steps": "300", "max_image_size": "160"}}
VIEWER_TIMEOUT_MS = 90_000

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_out(tmp_path_factory):
    from spaceport_synth import generate

    root = tmp_path_factory.mktemp("chain")
    survey = generate(root / "survey", preset="test", seed=0)
    out = root / "out"
    summary = run_local(survey.images_dir, out, settings=CHAIN_SETTINGS)
    publish_local(out, summary)
    return out


@pytest.fixture(scope="module")
def browser():
    with open_browser() as browser:
        yield browser


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return screenshot_dir(tmp_path_factory)


def _open(browser, url: str, allowed: tuple[str, ...]):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    watch = Watch(page, allowed)
    started = time.perf_counter()
    page.goto(url)
    viewer = page.frame_locator("#viewer-box iframe")
    viewer.locator("body[data-viewer=loaded]").wait_for(state="attached", timeout=VIEWER_TIMEOUT_MS)
    seconds = time.perf_counter() - started
    page.wait_for_timeout(1000)  # a few frames after the first
    return page, watch, seconds


def _report(out, stage: str) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    return json.loads((out / summary["stages"][stage]["report"]).read_text())


def _check_page(browser, page, watch, out, shots, name: str) -> None:
    assert watch.problems == []
    # every figure equals its report's value, to the digits shown
    cells = page.locator("[data-figure]")
    assert cells.count() >= 15
    for i in range(cells.count()):
        cell = cells.nth(i)
        stage, *path = cell.get_attribute("data-figure").split(".")
        value = _report(out, stage)
        for key in path:
            value = value[key]
        digits = int(cell.get_attribute("data-digits"))
        shown = float(cell.inner_text().split()[0].replace(",", ""))
        expected = value * float(cell.get_attribute("data-scale"))
        assert shown == pytest.approx(expected, abs=0.5 * 10**-digits + 1e-12), cell
    # the flight view draws every photo, placed or not, each with a mark
    sfm = _report(out, "sfm")["metrics"]
    photos = page.locator("#flight-box g.photo")
    assert photos.count() == sfm["images_total"]
    assert (
        page.locator("#flight-box g.photo[data-placed=true] circle").count()
        == sfm["images_registered"]
    )
    assert page.locator("#flight-box g.photo rect").count() == sfm["images_with_gps"]
    # the renders and the curve are there and decoded
    images = page.locator("#training img")
    assert images.count() >= 2
    for i in range(images.count()):
        assert images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
    # the viewer's canvas is not blank: compare with the same frame showing nothing
    canvas = page.locator("#viewer-box")
    drawn = canvas.screenshot(path=str(shots / f"viewer-{name}.png"))
    page.screenshot(path=str(shots / f"page-{name}.png"), full_page=True)
    blank_page = browser.new_page(viewport={"width": 1280, "height": 900})
    blank_page.set_content('<div style="width:1200px;height:560px;background:#121214"></div>')
    blank = blank_page.locator("div").screenshot()
    blank_page.close()
    assert pixel_spread(blank) < 1.0
    assert pixel_spread(drawn) > 12.0


def test_the_page_opened_from_disk(run_out, browser, shots):
    url = (run_out / "site" / "index.html").resolve().as_uri()
    page, watch, seconds = _open(browser, url, ("file://", "data:", "blob:"))
    print(f"page from disk: viewer loaded in {seconds:.1f} s")
    _check_page(browser, page, watch, run_out, shots, "file")
    page.close()


def test_the_page_served_by_spaceport_view(run_out, browser, shots):
    with serving(view_app(run_out)) as base:
        page, watch, seconds = _open(browser, f"{base}/", (base, "data:", "blob:"))
        print(f"page from {base}: viewer loaded in {seconds:.1f} s")
        assert page.url == f"{base}/site/index.html"
        _check_page(browser, page, watch, run_out, shots, "http")
        downloads = page.locator("#download-list a")
        assert downloads.count() >= 6
        for i in range(downloads.count()):  # every download link resolves
            href = downloads.nth(i).evaluate("a => a.href")
            assert page.request.get(href).ok, href
        page.close()


def test_the_run_folder_top_level(run_out):
    summary = json.loads((run_out / "summary.json").read_text())
    assert set(summary["stages"]) == {"sfm", "train", "compress"}
    assert (run_out / "scene.sog").read_bytes() == (
        run_out / "compress" / "processing" / "output" / "scene.sog"
    ).read_bytes()
    assert json.loads((run_out / "georeference.json").read_text())["georeferenced"] is True
    assert summary["files"]["scene.ply"] == "train/model/scene.ply"
    assert (run_out / summary["site"]).is_file()
