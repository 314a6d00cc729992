"""Camera poses and sparse points from the verified matches: pycolmap's incremental mapper
(default) or its global pipeline (GLOMAP); the largest model is kept.

When the incremental mapper leaves images out (it depends on one good initial pair, which short
handheld baselines may not offer), the global pipeline, which solves all rotations and positions
at once, gets a try and the model holding more images wins.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pycolmap

log = logging.getLogger(__name__)

# COLMAP's incremental mapper filters observations beyond 4 px and points seen under less than
# 1.5° (IncrementalMapperOptions.filter_max_reproj_error / filter_min_tri_angle). GLOMAP's
# defaults are looser (15 px, 1°); using the same limits keeps the two mappers' models alike.
_MAX_REPROJ_ERROR_PX = 4.0
_MIN_TRI_ANGLE_DEG = 1.5


@dataclass(frozen=True)
class MappingResult:
    model: pycolmap.Reconstruction | None
    mapper: str  # the mapper that built `model`
    note: str  # why that mapper, for the report


def _largest(models: dict[int, pycolmap.Reconstruction]) -> pycolmap.Reconstruction | None:
    if not models:
        return None
    return max(models.values(), key=lambda r: (r.num_reg_images(), r.num_points3D()))


def map_incremental(
    database: Path, image_dir: Path, scratch: Path, *, threads: int, seed: int
) -> pycolmap.Reconstruction | None:
    out = scratch / "incremental"
    out.mkdir(parents=True, exist_ok=True)
    options = pycolmap.IncrementalPipelineOptions()
    options.num_threads = threads  # COLMAP: <= 0 uses every core
    options.random_seed = seed
    return _largest(pycolmap.incremental_mapping(database, image_dir, out, options))


def map_global(
    database: Path, image_dir: Path, scratch: Path, *, focal_px: float, threads: int, seed: int
) -> pycolmap.Reconstruction | None:
    """`focal_px`: a typical focal length, to express the pixel limit in GLOMAP's units."""
    out = scratch / "global"
    out.mkdir(parents=True, exist_ok=True)
    options = pycolmap.GlobalPipelineOptions()
    options.num_threads = threads
    options.random_seed = seed
    mapper = options.mapper
    mapper.max_normalized_reproj_error = _MAX_REPROJ_ERROR_PX / focal_px
    mapper.min_tri_angle_deg = _MIN_TRI_ANGLE_DEG
    mapper.retriangulation.min_angle = _MIN_TRI_ANGLE_DEG
    mapper.retriangulation.merge_max_reproj_error = _MAX_REPROJ_ERROR_PX
    mapper.retriangulation.complete_max_reproj_error = _MAX_REPROJ_ERROR_PX
    return _largest(pycolmap.global_mapping(database, image_dir, out, options))


def _size(model: pycolmap.Reconstruction | None) -> int:
    return model.num_reg_images() if model is not None else 0


def reconstruct(
    database: Path,
    image_dir: Path,
    scratch: Path,
    *,
    mapper: str,
    num_images: int,
    focal_px: float,
    threads: int,
    seed: int,
) -> MappingResult:
    """The largest model found for the `num_images` images in `database`."""
    run_global = partial(
        map_global, database, image_dir, scratch, focal_px=focal_px, threads=threads, seed=seed
    )
    if mapper == "global":
        return MappingResult(run_global(), "global", "requested with mapper=global")
    model = map_incremental(database, image_dir, scratch, threads=threads, seed=seed)
    if _size(model) == num_images:
        return MappingResult(model, "incremental", "incremental mapper placed every image")
    log.info("incremental mapping placed %d of %d images; trying global", _size(model), num_images)
    fallback = run_global()
    note = (
        f"incremental mapper placed {_size(model)} of {num_images} images, "
        f"global mapper {_size(fallback)}"
    )
    if _size(fallback) > _size(model):
        return MappingResult(fallback, "global", note)
    return MappingResult(model, "incremental", note)
