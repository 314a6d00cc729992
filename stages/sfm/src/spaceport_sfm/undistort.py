"""Undistorted images and the matching PINHOLE model, the layout 3DGS training reads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pycolmap


def undistort(
    model: pycolmap.Reconstruction,
    image_dir: Path,
    scratch: Path,
    output_dir: Path,
    *,
    threads: int,
) -> pycolmap.Reconstruction:
    """Write `output_dir/images/` and `output_dir/sparse/0/` (binary); return that model."""
    distorted = scratch / "distorted"
    distorted.mkdir(parents=True, exist_ok=True)
    model.write_binary(distorted)
    staged = scratch / "undistorted"
    pycolmap.undistort_images(
        staged,
        distorted,
        image_dir,
        output_type="COLMAP",
        jpeg_quality=95,
        num_threads=threads,
    )
    shutil.move(staged / "images", output_dir / "images")
    sparse = output_dir / "sparse" / "0"
    sparse.mkdir(parents=True)
    undistorted = pycolmap.Reconstruction(staged / "sparse")
    undistorted.write_binary(sparse)
    return undistorted
