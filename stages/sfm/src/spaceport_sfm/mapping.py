"""Camera poses and sparse points from the verified matches: pycolmap's incremental mapper
(default) or its global pipeline (GLOMAP); the largest model is kept.

When the incremental mapper leaves images out (it depends on one good initial pair, which short
handheld baselines may not offer), the global pipeline, which solves all rotations and positions
at once, gets a try and the model holding more images wins. When the winner's refined focal
length leaves its EXIF prior by more than `max_focal_change` (weak overlap: see
`intrinsics.py`), its mapper runs again with the focal held at the prior. The incremental mapper
is stopped as soon as a model of 10 images has run that far (`FocalGuard`), rather than left
to finish a model that is then rejected; what maps after it, and the georeference, then hold the
focal at the prior.

With GPS, the incremental mapper's bundle adjustments carry the fixes as position priors
(`mapping_priors.py`, `use_prior_position` with its robust loss): on garfield, whose sparse
cross-line links let the photos alone fold the model (79 m RMS from GPS), they keep it near its
fixes while it grows (12 m) at about the same mapping time. pycolmap 4.2.1's global pipeline
reads no priors, so where the GPS agrees with the photos' pair directions the global fallback
is the GPS-seeded model (`gps_seeded.py`: rotations averaged, cameras started at their fixes,
false links dropped) instead of GLOMAP, and so is the focal-held rerun of a model whose focal
ran away; elsewhere GPS reaches a global model only afterwards (`prior_adjustment.py`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import pycolmap

from spaceport_sfm.exif import GeoPosition
from spaceport_sfm.gps_seeded import map_gps_seeded
from spaceport_sfm.intrinsics import database_focal_priors, focal_priors, largest_focal_change
from spaceport_sfm.large_scene import tune_incremental
from spaceport_sfm.photos import Photo

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
    models_found: int  # separate models the winning mapper built
    focal_held: bool  # mapped again with the focal held at its EXIF prior
    others: tuple[pycolmap.Reconstruction, ...] = ()  # its other models, for `merge.py`


@dataclass(frozen=True)
class Models:
    largest: pycolmap.Reconstruction | None
    count: int
    others: tuple[pycolmap.Reconstruction, ...] = ()  # the rest, largest first
    focal_ran_off: bool = False  # the incremental mapper was stopped by its `FocalGuard`


def _largest(models: dict[int, pycolmap.Reconstruction]) -> Models:
    if not models:
        return Models(None, 0)
    ordered = sorted(
        models.values(), key=lambda r: (r.num_reg_images(), r.num_points3D()), reverse=True
    )
    return Models(ordered[0], len(models), tuple(ordered[1:]))


@dataclass(frozen=True)
class FocalGuard:
    """Stop the incremental mapper once a model of `min_model_size` images or more has taken a
    camera's focal further than `max_change` from its EXIF prior (`priors`: camera id -> px):
    the stage would reject that model and map again with the focal held. Garfield: its first
    model grew to 16 images at +205 % in 26 s, then 80 s went on new models from the 12
    images left, each discarded; or the model took all 28 at +122 % before it was rejected."""

    priors: dict[int, float]
    max_change: float


def _stop_when_focal_runs_off(pipeline, manager, guard: FocalGuard, stopped: list) -> None:
    model = manager.get(manager.size() - 1)
    if stopped or model.num_reg_images() < pipeline.options.min_model_size:
        return
    change = largest_focal_change(model, guard.priors)
    if change > guard.max_change:
        log.info("incremental mapping stopped at %d images: the focal left its EXIF prior by "
                 "%.0f%%", model.num_reg_images(), 100 * change)  # fmt: skip
        # the pipeline's own stop (it checks its runtime after each image), which keeps the
        # models built so far
        pipeline.options.max_runtime_seconds = 1
        stopped.append(True)


def map_incremental(
    database: Path,
    image_dir: Path,
    scratch: Path,  # unused: the models stay in memory
    *,
    focal_px: float | None = None,  # unused: the incremental mapper's limits are in pixels
    refine_focal: bool = True,
    use_priors: bool = False,
    guard: FocalGuard | None = None,
    threads: int,
    seed: int,
) -> Models:
    """`use_priors`: pull the cameras towards the position priors in `database`
    (`mapping_priors.py`) in every bundle adjustment; `guard`: stop once the focal runs off."""
    options = pycolmap.IncrementalPipelineOptions()
    # -1, not 0, for every core: 0 reaches a RANSAC of the focal-held run, which refuses it
    options.num_threads = threads if threads > 0 else -1
    options.random_seed = seed
    options.ba_refine_focal_length = refine_focal  # also the absolute pose's
    options.use_prior_position = use_priors
    options.use_robust_loss_on_prior_position = True
    manager = pycolmap.ReconstructionManager()
    with pycolmap.Database.open(database) as db:
        if tune_incremental(options, db.num_images()):  # large flights: `large_scene.py`
            log.info("large flight: global adjustments bounded as the model grows")
        # the pipeline itself rather than `incremental_mapping`, whose callbacks cannot see
        # the model being built
        pipeline = pycolmap.IncrementalPipeline(options, db, manager)
        stopped: list = []
        if guard is not None and refine_focal and guard.priors:
            pipeline.add_callback(
                pycolmap.IncrementalPipelineCallback.NEXT_IMAGE_REG_CALLBACK,
                lambda: _stop_when_focal_runs_off(pipeline, manager, guard, stopped),
            )
        pipeline.run()
    models = {}
    for index in range(manager.size()):
        models[index] = manager.get(index)
        models[index].extract_colors_for_all_images(str(image_dir))  # as incremental_mapping
    return replace(_largest(models), focal_ran_off=bool(stopped))


# GLOMAP's threaded solvers do not repeat exactly even with a seed: on lund, one run in six
# ended with "no 3D points to optimize" and no model where the others placed 29 of 29.
_GLOBAL_ATTEMPTS = 3


def map_global(
    database: Path,
    image_dir: Path,
    scratch: Path,
    *,
    focal_px: float,
    refine_focal: bool = True,
    use_priors: bool = False,  # unused: pycolmap 4.2.1's global pipeline reads no priors
    threads: int,
    seed: int,
) -> Models:
    """`focal_px`: a typical focal length, to express the pixel limit in GLOMAP's units."""
    out = scratch / ("global" if refine_focal else "global-focal-held")
    out.mkdir(parents=True, exist_ok=True)
    options = pycolmap.GlobalPipelineOptions()
    options.num_threads = threads if threads > 0 else -1
    options.random_seed = seed
    mapper = options.mapper
    mapper.bundle_adjustment.refine_focal_length = refine_focal
    mapper.max_normalized_reproj_error = _MAX_REPROJ_ERROR_PX / focal_px
    mapper.min_tri_angle_deg = _MIN_TRI_ANGLE_DEG
    mapper.retriangulation.min_angle = _MIN_TRI_ANGLE_DEG
    mapper.retriangulation.merge_max_reproj_error = _MAX_REPROJ_ERROR_PX
    mapper.retriangulation.complete_max_reproj_error = _MAX_REPROJ_ERROR_PX
    for attempt in range(_GLOBAL_ATTEMPTS):
        options.random_seed = seed + attempt
        models = _largest(pycolmap.global_mapping(database, image_dir, out, options))
        if models.largest is not None:
            break
        log.info("global mapping built no model (attempt %d of %d)", attempt + 1, _GLOBAL_ATTEMPTS)
    return models


_SEEDED = "gps-seeded global"


def _seeded(
    database: Path,
    image_dir: Path,
    scratch: Path,
    fixes: dict[str, GeoPosition] | None,
    gps_sigma_m: float,
    common: dict,
) -> Models | None:
    """The GPS-seeded model (`gps_seeded.py`), or None without GPS priors or where the GPS
    cannot start the flight (it disagrees with the photos' pair directions, or the linked
    photos are too close together for its error)."""
    if not fixes or not common["use_priors"]:
        return None
    seeded = map_gps_seeded(
        database, image_dir, scratch, fixes, sigma_h_m=gps_sigma_m,
        threads=common["threads"], seed=common["seed"],
    )  # fmt: skip
    if seeded.model is None:
        log.info("no GPS-seeded model: %s", seeded.why_not)
        return None
    return Models(seeded.model, 1)


def _size(models: Models) -> int:
    return models.largest.num_reg_images() if models.largest is not None else 0


def reconstruct(
    database: Path,
    image_dir: Path,
    scratch: Path,
    *,
    mapper: str,
    photos: list[Photo],
    focal_px: float,
    max_focal_change: float,
    use_priors: bool = False,
    fixes: dict[str, GeoPosition] | None = None,
    gps_sigma_m: float = 5.0,
    threads: int,
    seed: int,
) -> MappingResult:
    """The largest model found for `photos` (all in `database`); `use_priors`: the position
    priors in `database` enter the incremental mapper's bundle adjustments."""
    mappers = {"incremental": map_incremental, "global": map_global}
    common = {"focal_px": focal_px, "use_priors": use_priors, "threads": threads, "seed": seed}
    held = False
    if mapper == "global":
        used, models, note = (
            "global",
            map_global(database, image_dir, scratch, **common),
            ("requested with mapper=global"),
        )
    else:
        guard = FocalGuard(database_focal_priors(database, photos), max_focal_change)
        used = "incremental"
        models = map_incremental(database, image_dir, scratch, guard=guard, **common)
        note = "incremental mapper placed every image"
        # A stopped mapper's focal ran off: the overlap cannot fix it, so whatever maps next
        # holds it at the prior (the GPS-seeded model always does), and so does the georeference.
        ran_off = models.focal_ran_off
        if ran_off:
            note = (
                f"incremental mapper stopped at {_size(models)} images, its focal more than "
                f"{max_focal_change:.0%} from the EXIF prior, so the focal was held"
            )
        if _size(models) < len(photos):
            log.info("incremental mapping placed %d of %d images; trying global", _size(models),
                     len(photos))  # fmt: skip
            seeded = _seeded(database, image_dir, scratch, fixes, gps_sigma_m, common)
            name, fallback = (
                (_SEEDED, seeded)
                if seeded is not None
                else (
                    "global",
                    map_global(database, image_dir, scratch, refine_focal=not ran_off, **common),
                )
            )
            placed = f"incremental mapper placed {_size(models)} of {len(photos)} images"
            note = f"{note if ran_off else placed}, {name} mapper {_size(fallback)}"
            if _size(fallback) > _size(models):
                used, models = name, fallback
        # the stopped model itself, should it still be the largest, is checked below
        held = ran_off and used != "incremental"
    if models.largest is not None and not held:
        priors = focal_priors(models.largest, photos)
        change = largest_focal_change(models.largest, priors)
        if change > max_focal_change and used in mappers:  # the GPS-seeded one holds it
            log.info("refined focal left its EXIF prior by %.0f%%; mapping again with it held",
                     100 * change)  # fmt: skip
            # Weak overlap: with GPS that agrees, the GPS-seeded model (focal held) rather
            # than the same mapper again (garfield, seed 1: the incremental mapper's
            # focal-held rerun came out 56 m from GPS).
            again = _seeded(database, image_dir, scratch, fixes, gps_sigma_m, common)
            name = _SEEDED if again is not None else used
            if again is None:
                again = mappers[used](database, image_dir, scratch, refine_focal=False, **common)
            note += (
                f"; the refined focal length left its EXIF prior by {change:.0%} (more than "
                f"{max_focal_change:.0%}), so it was mapped again with the focal held "
                f"({name}, {_size(again)} images)"
            )
            if _size(again) >= _size(models) * 0.9:
                used, models, held = name, again, True
    return MappingResult(models.largest, used, note, models.count, held, models.others)
