"""Tiny stand-ins for the three stages, obeying the same console-script contract.

They run through the real `spaceport_shared.entrypoint.stage_main`, so `/opt/ml` paths, failure
files, atomic outputs and `report.json` behave exactly as the real stages' do; only the work is
trivial. `python fake_stages.py sfm|train|compress [args]`; `--set fail=true` makes a stage fail.
"""

from __future__ import annotations

import json
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from spaceport_shared.archive import extract_archive, is_archive
from spaceport_shared.contract import GEOREFERENCE_NAME
from spaceport_shared.entrypoint import StageSpec, stage_main
from spaceport_shared.errors import SpaceportError
from spaceport_shared.metrics import log_metrics
from spaceport_shared.report import Report
from spaceport_shared.settings import setting

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff"}


@dataclass(frozen=True)
class FakeSettings:
    fail: bool = setting(False, help="fail with a user error")
    steps: int = setting(30, help="training steps", min=1, max=100000)
    delay_s: float = setting(0.0, help="sleep per step", min=0, max=10)
    no_psnr: bool = setting(False, help="train: log and report no psnr")


def _maybe_fail(stage: str, settings: FakeSettings) -> None:
    if settings.fail:
        raise SpaceportError(f"The fake {stage} stage was told to fail; unset fail to pass.")


def run_sfm(settings: FakeSettings, input_dir: Path, output_dir: Path) -> Report:
    _maybe_fail("sfm", settings)
    time.sleep(settings.delay_s)
    images = sorted(p for p in input_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(images) < 3:
        raise SpaceportError(f"Found {len(images)} images in {input_dir}; give at least 3.")
    (output_dir / "sparse" / "0").mkdir(parents=True)
    (output_dir / "sparse" / "0" / "points.txt").write_text("\n".join(p.name for p in images))
    origin = {"lat": 55.7125, "lon": 13.221, "alt": 65.0}
    georeference = {"format": "spaceport-georeference/1", "frame": "ENU", "origin": origin}
    (output_dir / GEOREFERENCE_NAME).write_text(json.dumps(georeference))
    report = Report(stage="sfm", version="0.0-fake")
    report.details["georeference"] = {"georeferenced": True, "origin": origin}
    report.metrics.update(
        images_total=len(images), images_registered=len(images) - 1, points=100 * len(images)
    )
    return report


def run_train(
    settings: FakeSettings,
    input_dir: Path,
    output_dir: Path,
    *,
    checkpoint_dir: Path,
    extras_dir: Path,
) -> Report:
    _maybe_fail("train", settings)
    if not (input_dir / "sparse" / "0").is_dir():
        raise SpaceportError(f"No COLMAP model in {input_dir}; run the sfm stage first.")
    # A checkpoint every 10 steps; a restarted job (spot) resumes from the last one.
    checkpoint = checkpoint_dir / "step.txt"
    resumed_from = int(checkpoint.read_text()) if checkpoint.exists() else 0
    print(f"resumed from step {resumed_from}", flush=True)
    for step in range(resumed_from + 1, settings.steps + 1):
        time.sleep(settings.delay_s)
        if step % 10 == 0 or step == settings.steps:
            log_metrics(step=step, loss=1.0 / step)
            checkpoint.write_text(str(step))
    figures = {} if settings.no_psnr else {"psnr": 27.25}
    log_metrics(**figures, ssim=0.875, gaussians=1234, steps=settings.steps)
    (output_dir / "scene.ply").write_bytes(b"ply\n" + b"\0" * 4000)
    (extras_dir / "curve.txt").write_text("fake")
    report = Report(stage="train", version="0.0-fake")
    report.metrics.update(
        **figures, ssim=0.875, gaussians=1234, steps=settings.steps, resumed_from=resumed_from
    )
    return report


def run_compress(settings: FakeSettings, input_path: Path, output_dir: Path) -> Report:
    _maybe_fail("compress", settings)
    candidates = [input_path] if input_path.is_file() else sorted(input_path.rglob("*"))
    plys = [p for p in candidates if p.suffix == ".ply"]
    for archive in (p for p in candidates if is_archive(p)):
        plys += [p for p in extract_archive(archive, output_dir / ".model") if p.suffix == ".ply"]
    if not plys:
        raise SpaceportError(f"No .ply model in {input_path}; give a PLY or model.tar.gz.")
    data = plys[0].read_bytes()
    with zipfile.ZipFile(output_dir / "scene.sog", "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("meta.json", '{"version": 2}')
        bundle.writestr("means_l.webp", data)
    for leftover in (output_dir / ".model").rglob("*"):
        if leftover.is_file():
            leftover.unlink()
    if (output_dir / ".model").exists():
        for folder in sorted((output_dir / ".model").rglob("*"), reverse=True):
            folder.rmdir()
        (output_dir / ".model").rmdir()
    out_bytes = (output_dir / "scene.sog").stat().st_size
    report = Report(stage="compress", version="0.0-fake")
    report.metrics.update(
        input_bytes=len(data), output_bytes=out_bytes, ratio=round(len(data) / out_bytes, 2)
    )
    return report


SPECS = {
    "sfm": StageSpec("sfm", "processing", FakeSettings, run_sfm, "fake sfm"),
    "train": StageSpec("train", "training", FakeSettings, run_train, "fake train"),
    "compress": StageSpec("compress", "processing", FakeSettings, run_compress, "fake compress"),
}


def command(stage: str) -> list[str]:
    """The argv that starts the fake stage (what a container's ENTRYPOINT would be)."""
    return [sys.executable, str(Path(__file__).resolve()), stage]


if __name__ == "__main__":
    sys.exit(stage_main(SPECS[sys.argv[1]], sys.argv[2:]))
