"""`run(settings, input_dir, output_dir) -> Report`: the SfM stage from photos to model.

output_dir/
  sparse/0/{cameras,images,points3D,...}.bin   PINHOLE cameras, ENU metres when georeferenced
  images/...                                   undistorted working images
  georeference.json                            origin and fit of the ENU frame
  image_names.json                             internal image name -> the user's file name
  flight.png                                   camera path over the sparse points
  report.json                                  written last by the runner
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import pycolmap

from spaceport_sfm import __version__
from spaceport_sfm.extract import extract_features
from spaceport_sfm.flight_plot import plot_flight
from spaceport_sfm.formats import ACCEPTED
from spaceport_sfm.georeference import (
    GEOREFERENCE_NAME,
    Georeference,
    georeference,
    parse_origin,
    write_georeference,
)
from spaceport_sfm.inputs import gather_candidates
from spaceport_sfm.mapping import reconstruct
from spaceport_sfm.match import match_pairs
from spaceport_sfm.naming import NAMES_FILE, write_names
from spaceport_sfm.pairs import plan_matching
from spaceport_sfm.photos import Photo, Skipped, prepare_photos
from spaceport_sfm.settings import SfmSettings
from spaceport_sfm.undistort import undistort
from spaceport_shared.errors import SpaceportError
from spaceport_shared.report import Report

log = logging.getLogger(__name__)

MIN_IMAGES = 3
_MAX_LISTED_SKIPS = 50


_ADVICE = (
    "take photos with more overlap (about 70% forward and 60% sideways for a survey), "
    "add more images of the same area, or set matching=exhaustive"
)


def run(settings: SfmSettings, input_dir: Path, output_dir: Path) -> Report:
    report = Report(stage="sfm", version=__version__)
    parse_origin(settings.origin)  # a malformed origin fails now, not after the mapping
    threads = settings.num_threads
    pycolmap.set_random_seed(settings.seed)
    with tempfile.TemporaryDirectory(prefix="spaceport-sfm-") as tmp:
        scratch = Path(tmp)
        image_dir = scratch / "working"
        database = scratch / "database.db"

        with report.step("prepare"):
            max_bytes = int(settings.max_archive_gb * 1024**3)
            candidates = gather_candidates(Path(input_dir), scratch, max_bytes)
            photos, skipped = prepare_photos(
                candidates, image_dir, settings.max_image_size, threads
            )
        for skip in skipped[:_MAX_LISTED_SKIPS]:
            report.warn(f"skipped {skip.name}: {skip.reason}")
        if len(skipped) > _MAX_LISTED_SKIPS:
            report.warn(f"skipped {len(skipped) - _MAX_LISTED_SKIPS} more unreadable files")
        damaged = [p for p in photos if p.exif.damaged]
        for photo in damaged[:_MAX_LISTED_SKIPS]:
            report.warn(
                f"{photo.source}: its EXIF block is damaged ({photo.exif.damaged}), so its GPS "
                "position, focal length or capture time may be missing"
            )
        report.metrics["images_exif_damaged"] = len(damaged)
        report.metrics["files_total"] = len(candidates)
        report.metrics["images_skipped"] = len(skipped)
        report.metrics["images_total"] = len(photos)
        report.metrics["images_used"] = len(photos)  # usable photos, all handed to pycolmap
        _require_enough_photos(photos, skipped, len(candidates))
        with_gps = sum(p.exif.gps is not None for p in photos)
        report.metrics["images_with_gps"] = with_gps
        if 0 < with_gps < len(photos):
            report.warn(f"{len(photos) - with_gps} of {len(photos)} photos carry no GPS position")
        if with_gps == 0:
            report.warn("no photo carries GPS: the model stays in its own frame and scale")
        if any(p.focal_px is None for p in photos):
            report.warn(
                "some photos lack a 35 mm-equivalent focal length in EXIF: their focal length "
                "starts at 1.2 x the long side and is refined by bundle adjustment"
            )

        with report.step("extract"):
            report.metrics["cameras"] = extract_features(
                database,
                image_dir,
                photos,
                settings.max_num_features,
                settings.upsample_below,
                threads,
            )

        plan = plan_matching(
            photos,
            settings.matching,
            settings.exhaustive_max_images,
            settings.spatial_neighbors,
            settings.sequential_overlap,
        )
        report.details["matching"] = {"mode": plan.mode, "reason": plan.reason}
        report.metrics["pairs_planned"] = len(plan.pairs)
        log.info("matching: %s, %s", plan.mode, plan.reason)
        with report.step("match"):
            report.metrics["pairs_verified"] = match_pairs(
                database, plan, scratch, threads, settings.seed
            )

        with report.step("map"):
            focal = float(np.median([p.focal_px or 1.2 * max(p.width, p.height) for p in photos]))
            mapped = reconstruct(
                settings.mapper,
                database,
                image_dir,
                scratch,
                len(photos),
                focal,
                threads,
                settings.seed,
            )
        model = mapped.model
        report.details["mapping"] = {"mapper": mapped.mapper, "note": mapped.note}
        registered = _require_coverage(model, photos, settings.min_registered_share, report)

        with report.step("georeference"):
            gps = {p.name: p.exif.gps for p in photos if p.exif.gps is not None}
            geo, why_not = georeference(model, gps, settings.origin, settings.gps_max_error_m)
            write_georeference(output_dir / GEOREFERENCE_NAME, geo, why_not)
        _record_georeference(report, geo, why_not)
        write_names(output_dir / NAMES_FILE, {p.name: p.source for p in photos})

        # measured on the distorted model, in working-image pixels, as pycolmap reports it
        report.metrics["points"] = model.num_points3D()
        report.metrics["mean_reprojection_error_px"] = round(
            model.compute_mean_reprojection_error(), 4
        )
        report.metrics["mean_track_length"] = round(model.compute_mean_track_length(), 3)
        with report.step("undistort"):
            final = undistort(model, image_dir, scratch, output_dir, threads)
        report.details["working_image_size"] = {
            "max_image_size": settings.max_image_size,
            "scale_mean": float(np.mean([p.width / p.original_width for p in photos])),
        }

        with report.step("plot"):
            title = (
                f"{registered}/{len(photos)} cameras, {final.num_points3D()} points, "
                f"matching {plan.mode}"
            )
            plot_flight(
                final, [p.name for p in photos], output_dir / "flight.png", geo is not None, title
            )
    return report


def _require_enough_photos(photos: list[Photo], skipped: list[Skipped], n_files: int) -> None:
    if len(photos) >= MIN_IMAGES:
        return
    unusable = ""
    if skipped:
        listed = ", ".join(s.name for s in skipped[:5]) + (" ..." if len(skipped) > 5 else "")
        unusable = f" (skipped: {listed})"
    raise SpaceportError(
        f"Only {len(photos)} usable photos ({ACCEPTED}) were found among "
        f"{n_files} files in the input{unusable}; structure-from-motion needs "
        f"at least {MIN_IMAGES} overlapping photos, so upload more."
    )


def _require_coverage(
    model: pycolmap.Reconstruction | None, photos: list[Photo], min_share: float, report: Report
) -> int:
    """The number of registered photos; fails when the model holds too few of them."""
    registered = model.num_reg_images() if model is not None else 0
    report.metrics["images_registered"] = registered
    share = registered / len(photos)
    if model is None or registered < MIN_IMAGES or share < min_share:
        found = (
            "no model could be built from them"
            if model is None
            else f"the largest model holds only {registered} of them ({share:.0%}, "
            f"at least {min_share:.0%} needed)"
        )
        raise SpaceportError(f"The {len(photos)} photos do not overlap enough: {found}; {_ADVICE}.")
    if registered < len(photos):
        names = {img.name for img in model.images.values() if img.has_pose}
        missing = [p.source for p in photos if p.name not in names]
        report.warn(
            f"{len(missing)} photos could not be placed in the model: "
            + ", ".join(missing[:20])
            + (" ..." if len(missing) > 20 else "")
        )
    return registered


def _record_georeference(report: Report, geo: Georeference | None, why_not: str) -> None:
    if geo is None:
        report.warn(f"model not georeferenced: {why_not}; it stays in its own frame")
        report.details["georeference"] = {"georeferenced": False, "reason": why_not}
        return
    report.details["georeference"] = {
        "georeferenced": True,
        "frame": "ENU metres (x east, y north, z up)",
        "origin": {"lat": geo.origin.lat, "lon": geo.origin.lon, "alt": geo.origin.alt},
        "origin_rule": geo.origin_rule,
    }
    report.metrics["georeference_residual_rms_m"] = round(geo.residual_rms_m, 3)
    report.metrics["georeference_residual_median_m"] = round(geo.residual_median_m, 3)
    report.metrics["georeference_scale"] = geo.scale
    if not geo.has_altitude:
        report.warn("GPS altitude missing: heights in the ENU frame are approximate")
