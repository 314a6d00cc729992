"""The results page's load time in headless Chromium: until the viewer drew its first frame.

    python orchestration/bench/bench_page.py demo-output/run [--shot docs/images/results-page.png]

Opened from disk and served by `spaceport view`'s app; prints seconds (never pass/fail).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from browser import FLAGS, chromium_path

from spaceport_orchestration.web.server import serving
from spaceport_orchestration.web.view import view_app


def _load(browser, url: str, shot: Path | None) -> float:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    started = time.perf_counter()
    page.goto(url)
    page.frame_locator("#viewer-box iframe").locator("body[data-viewer=loaded]").wait_for(
        state="attached", timeout=180_000
    )
    seconds = time.perf_counter() - started
    if shot:
        page.wait_for_timeout(1500)
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), clip={"x": 0, "y": 0, "width": 1280, "height": 900})
    page.close()
    return seconds


def main() -> int:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="a run folder (spaceport run --out)")
    parser.add_argument("--shot", type=Path, help="write a screenshot of the page here")
    args = parser.parse_args()
    sog = args.out / "scene.sog"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path(), args=[*FLAGS, "--no-sandbox"], headless=True
        )
        disk = _load(browser, (args.out / "site" / "index.html").resolve().as_uri(), None)
        with serving(view_app(args.out)) as base:
            http = _load(browser, f"{base}/", args.shot)
        browser.close()
    print(
        f"scene.sog {sog.stat().st_size / 1e6:.2f} MB: first frame {disk:.1f} s from disk, "
        f"{http:.1f} s from localhost"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
