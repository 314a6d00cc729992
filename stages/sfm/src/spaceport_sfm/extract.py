"""SIFT features of the working images into a COLMAP database, one camera per camera group."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

import pycolmap

from spaceport_sfm.photos import Photo

CAMERA_MODEL = "SIMPLE_RADIAL"  # COLMAP's default: f, cx, cy, k; enough for drone lenses


@dataclass(frozen=True)
class Extraction:
    cameras: int  # camera groups, one COLMAP camera each


def extraction_options(
    long_side: int, *, max_num_features: int, upsample_below: int, threads: int
) -> pycolmap.FeatureExtractionOptions:
    options = pycolmap.FeatureExtractionOptions()
    options.num_threads = threads  # COLMAP: <= 0 uses every core
    options.sift.max_num_features = max_num_features
    # SIFT's first octave at -1 doubles the image first: small images need it for enough
    # features; on large ones it costs ~3x the time for features we do not need.
    options.sift.first_octave = -1 if long_side <= upsample_below else 0
    return options


def extract_features(
    database: Path,
    image_dir: Path,
    photos: list[Photo],
    *,
    max_num_features: int,
    upsample_below: int,
    threads: int,
) -> Extraction:
    """Extract features for `photos` (working images in `image_dir`) into `database`.

    Photos with the same make, model, size and focal length share one SIMPLE_RADIAL camera whose
    focal length starts at the EXIF prior (35 mm equivalent), else COLMAP's 1.2 x long side.
    """
    groups = sorted(photos, key=lambda p: repr(p.camera_key))
    cameras = 0
    for _, members in groupby(groups, key=lambda p: repr(p.camera_key)):
        members = list(members)
        first = members[0]
        reader = pycolmap.ImageReaderOptions()
        reader.camera_model = CAMERA_MODEL
        if first.focal_px:
            cx, cy = first.width / 2.0, first.height / 2.0
            reader.camera_params = f"{first.focal_px},{cx},{cy},0"
        pycolmap.extract_features(
            database,
            image_dir,
            image_names=[p.name for p in members],
            camera_mode=pycolmap.CameraMode.SINGLE,
            reader_options=reader,
            extraction_options=extraction_options(
                max(first.width, first.height),
                max_num_features=max_num_features,
                upsample_below=upsample_below,
                threads=threads,
            ),
        )
        cameras += 1
    return Extraction(cameras=cameras)
