"""Headless Chromium for the page tests: Debian's chromium driven by Playwright (no download).

`open_browser()` skips the test with the reason when no Chromium or no Playwright is here.
`Watch` records what the tests forbid: console errors, page errors and failed requests, and
any request that leaves the page's origin.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# a closed network: nothing phones home, SwiftShader draws WebGL without a GPU
FLAGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--enable-unsafe-swiftshader",
    "--use-angle=swiftshader",
]
SCREENSHOT_ENV = "SPACEPORT_SCREENSHOTS"


def chromium_path() -> str | None:
    for path in (os.environ.get("SPACEPORT_CHROMIUM"), *CHROMIUM_CANDIDATES):
        if path and Path(path).is_file():
            return path
    return shutil.which("chromium")


@contextmanager
def open_browser() -> Iterator:
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium here (make setup installs Debian's chromium where apt works)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright for Python is not installed (make setup)")
    flags = [*FLAGS, *(["--no-sandbox"] if os.geteuid() == 0 else [])]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=flags, headless=True)
        try:
            yield browser
        finally:
            browser.close()


class Watch:
    """Everything a page did wrong while it was watched."""

    def __init__(self, page, allowed_prefixes: tuple[str, ...]):
        self.problems: list[str] = []
        self.allowed = allowed_prefixes
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url} {r.failure}"))
        page.on("request", self._request)
        page.on("response", self._response)

    def _console(self, message) -> None:
        if message.type == "error":
            self.problems.append(f"console error: {message.text}")

    def _response(self, response) -> None:
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def _request(self, request) -> None:
        if not request.url.startswith(self.allowed):
            self.problems.append(f"request outside the page's origin: {request.url}")


def pixel_spread(png: bytes) -> float:
    """The standard deviation of a screenshot's grey levels: ~0 for a blank canvas."""
    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"), np.float64)
    return float(grey.std())


def screenshot_dir(tmp_path_factory) -> Path:
    chosen = os.environ.get(SCREENSHOT_ENV)
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
