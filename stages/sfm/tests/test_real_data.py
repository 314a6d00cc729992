"""The real photo sets in ../shared/data (skipped where they are absent, e.g. a fresh clone)."""

import json
from pathlib import Path

import pytest

from spaceport_sfm.cli import main

SHARED_DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"

pytestmark = [pytest.mark.slow, pytest.mark.data]


@pytest.mark.parametrize("name", ["brighton_beach", "lund"])
def test_every_image_registered(name, tmp_path):
    images = SHARED_DATA / name / "images"
    if not images.is_dir():
        pytest.skip(f"../shared/data not present: {images} is missing")
    out = tmp_path / "out"
    assert main(["--input", str(images), "--output", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    total = len(list(images.iterdir()))
    assert report["metrics"]["images_total"] == total
    assert report["metrics"]["images_registered"] == total
    assert report["metrics"]["mean_reprojection_error_px"] < 1.0
    assert report["details"]["georeference"]["georeferenced"] is True
    # GPS is ~1-10 m accurate; a wrong scale or a flipped model would be off by far more
    assert report["metrics"]["georeference_residual_median_m"] < 10.0
