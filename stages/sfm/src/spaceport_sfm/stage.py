"""`run(settings, input_dir, output_dir) -> Report`: the SfM stage from photos to model.

output_dir/
  sparse/0/{cameras,images,points3D,...}.bin   PINHOLE cameras, ENU metres when georeferenced
  images/...                                   undistorted working images
  georeference.json                            origin and fit of the ENU frame
  image_names.json                             internal image name -> the user's file name
  flight.png                                   camera path over the sparse points
  flight.json                                  the same as data (cameras, GPS, points)
  report.json                                  written last by the runner

Each step takes its slice of the settings and returns a result; `record` turns the results into
the report.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pycolmap

from spaceport_sfm import __version__
from spaceport_sfm.exif import GeoPosition
from spaceport_sfm.extract import Extraction, extract_features
from spaceport_sfm.flight_data import write_flight
from spaceport_sfm.flight_plot import plot_flight
from spaceport_sfm.formats import ACCEPTED
from spaceport_sfm.georeference import (
    Georeference,
    Verdict,
    align_to_gps,
    judge,
    measure_georeference,
    parse_origin,
    write_georeference,
)
from spaceport_sfm.gps_quality import MIN_SIGMA_H_M, repeated_fixes, stated_sigmas
from spaceport_sfm.inputs import gather_candidates
from spaceport_sfm.intrinsics import FocalFigures, focal_figures, focal_priors
from spaceport_sfm.mapping import MappingResult, reconstruct
from spaceport_sfm.mapping_priors import write_position_priors
from spaceport_sfm.match import Matches, match_pairs
from spaceport_sfm.merge import MergedModels, merge_by_gps
from spaceport_sfm.naming import write_names
from spaceport_sfm.pairs import MatchPlan, plan_matching
from spaceport_sfm.photos import Photo, Skipped, prepare_photos
from spaceport_sfm.prior_adjustment import adjust_to_gps
from spaceport_sfm.settings import SfmSettings
from spaceport_sfm.undistort import undistort
from spaceport_sfm.video import VideoFrames, frames_from_videos
from spaceport_shared.contract import FLIGHT_NAME, GEOREFERENCE_NAME, IMAGE_NAMES_NAME
from spaceport_shared.errors import SpaceportError
from spaceport_shared.report import Report

log = logging.getLogger(__name__)

MIN_IMAGES = 3
_MAX_LISTED_SKIPS = 50
_MAX_LISTED_MISSING = 20
_FALLBACK_FOCAL_FACTOR = 1.2  # COLMAP's focal guess without EXIF: 1.2 x the long side

_ADVICE = (
    "take photos with more overlap (about 70% forward and 60% sideways for a survey), "
    "add more images of the same area, or set matching=exhaustive"
)


@dataclass(frozen=True)
class Prepared:
    files_total: int  # files in the upload, archives unpacked
    photos: list[Photo]  # the files that decoded as photos, in capture order
    skipped: list[Skipped]  # the files that did not
    videos: list[VideoFrames]  # each video's frame choice (its frames are among `photos`)


@dataclass(frozen=True)
class ModelFigures:
    """The mapped model as pycolmap measures it, before undistortion (working-image pixels)."""

    registered: frozenset[str]  # image names with a pose
    points: int
    mean_reprojection_error_px: float
    mean_track_length: float


@dataclass(frozen=True)
class Alignment:
    georeference: Georeference | None
    reason: str  # why not georeferenced, "" when it is
    verdict: Verdict | None  # what the user must know about it
    focal: FocalFigures


@dataclass(frozen=True)
class Results:
    prepared: Prepared
    extraction: Extraction
    plan: MatchPlan
    matches: Matches
    mapping: MappingResult
    model: ModelFigures
    alignment: Alignment
    merged: MergedModels | None = None  # None: the mapper built no model


def prepare(
    input_dir: Path,
    scratch: Path,
    *,
    max_image_size: int,
    max_extract_gib: float,
    video_frame_interval_s: float,
    video_max_frames: int,
    threads: int,
) -> Prepared:
    """Every file of the upload (archives unpacked below `scratch`, videos cut into frames),
    decoded into working images in `scratch/working`."""
    files = gather_candidates(Path(input_dir), scratch, int(max_extract_gib * 1024**3))
    candidates, videos = frames_from_videos(
        files, scratch, interval_s=video_frame_interval_s, max_frames=video_max_frames
    )
    photos, skipped = prepare_photos(
        candidates, scratch / "working", max_image_size=max_image_size, threads=threads
    )
    skipped += [Skipped(v.name, v.error) for v in videos if v.error]
    return Prepared(files_total=len(files), photos=photos, skipped=skipped, videos=videos)


def usable_fixes(photos: list[Photo]) -> dict[str, GeoPosition]:
    """Image name -> GPS fix of the photos (capture order) whose fix is their own: a repeat of
    the previous photo's is left out (`gps_quality.repeated_fixes`)."""
    repeated = set(repeated_fixes([p.name for p in photos], [p.exif.gps for p in photos]))
    return {p.name: p.exif.gps for p in photos if p.exif.gps is not None and p.name not in repeated}


def seeding_sigma_m(fixes: dict[str, GeoPosition], setting_m: float) -> float:
    """Horizontal deviation of the fixes the GPS-seeded model starts its cameras at: the
    receiver's stated accuracy where the photos carry it, else `setting_m`; 0 (the photos
    alone) stays 0. The incremental mapper's priors keep `setting_m`: they are a loose guard
    against folding, and tighter ones let garfield's mapper place every photo with its focal
    run off (+211 %) before the seeded model replaced it, 25 s later."""
    stated_h, _ = stated_sigmas(list(fixes.values()))
    if setting_m == 0 or stated_h is None:
        return setting_m
    return max(stated_h, MIN_SIGMA_H_M)


def plan_for(photos: list[Photo], settings: SfmSettings) -> MatchPlan:
    """The matching plan `settings` ask for."""
    return plan_matching(
        photos,
        requested=settings.matching,
        exhaustive_max_images=settings.exhaustive_max_images,
        spatial_neighbors=settings.spatial_neighbors,
        sequential_overlap=settings.sequential_overlap,
    )


def typical_focal_px(photos: list[Photo]) -> float:
    return float(
        np.median([p.focal_px or _FALLBACK_FOCAL_FACTOR * max(p.width, p.height) for p in photos])
    )


def measure(model: pycolmap.Reconstruction) -> ModelFigures:
    return ModelFigures(
        registered=frozenset(img.name for img in model.images.values() if img.has_pose),
        points=model.num_points3D(),
        mean_reprojection_error_px=model.compute_mean_reprojection_error(),
        mean_track_length=model.compute_mean_track_length(),
    )


def join_models(
    mapping: MappingResult,
    photos: list[Photo],
    fixes: dict[str, GeoPosition],  # `usable_fixes(photos)`, as the georeference uses
    max_error_m: float,
) -> MergedModels | None:
    """The mapper's models joined by their GPS (`merge.py`); None when it built none."""
    if mapping.model is None:
        return None
    return merge_by_gps(
        [mapping.model, *mapping.others], fixes, [p.name for p in photos], max_error_m=max_error_m
    )


def georeference(
    model: pycolmap.Reconstruction,
    photos: list[Photo],
    fixes: dict[str, GeoPosition],  # `usable_fixes(photos)`
    mapping: MappingResult,
    settings,
) -> Alignment:
    """Align `model` to the photos' GPS, adjust it with the trusted fixes as priors, judge it."""
    priors = focal_priors(model, photos)
    aligned, why_not = align_to_gps(
        model,
        fixes,
        [p.name for p in photos],
        origin_rule=settings.origin,
        max_error_m=settings.gps_max_error_m,
    )
    if aligned is None:
        return Alignment(None, why_not, None, focal_figures(model, priors, mapping.focal_held))
    found = aligned.gps
    held = mapping.focal_held
    # Two passes. First every fix, loosely and under the robust loss: where the photos alone
    # bent the model (weak overlap), the fixes straighten it, while a fix far off pulls
    # little. Then the fixes still beyond the outlier distance are left out.
    passes = [(np.ones(len(aligned.names), bool), max(found.sigma_h_m, found.outlier_m / 2))]
    passes.append((None, found.sigma_h_m))
    for keep, sigma_h in passes:
        if keep is None:
            keep = aligned.horizontal_residuals(model) < found.outlier_m
        held = adjust_to_gps(
            model,
            aligned.priors(model, keep, sigma_h),
            outlier_m=found.outlier_m,
            focal_priors=priors,
            refine_focal=not held,
            max_focal_change=settings.max_focal_change,
            threads=settings.threads,
        )
    inliers = aligned.horizontal_residuals(model) < found.outlier_m
    geo = measure_georeference(model, aligned, inliers)
    verdict = judge(geo, settings.gps_max_error_m)
    for line in verdict.warnings:
        log.warning("%s", line)
    return Alignment(geo, "", verdict, focal_figures(model, priors, held))


def _require_georeference(alignment: Alignment, required: bool) -> None:
    if not required:
        return
    if alignment.georeference is None:
        raise SpaceportError(
            f"The model could not be georeferenced ({alignment.reason}) and "
            "require_georeference=true; upload photos with GPS or unset require_georeference."
        )
    if alignment.verdict.untrustworthy:
        raise SpaceportError(
            f"The georeference failed its check: {alignment.verdict.untrustworthy} "
            "(require_georeference=true)."
        )


def run(settings: SfmSettings, input_dir: Path, output_dir: Path) -> Report:
    report = Report(stage="sfm", version=__version__)
    parse_origin(settings.origin)  # a malformed origin fails now, not after the mapping
    threads = settings.threads
    pycolmap.set_random_seed(settings.seed)
    with tempfile.TemporaryDirectory(prefix="spaceport-sfm-") as tmp:
        scratch = Path(tmp)
        image_dir = scratch / "working"
        database = scratch / "database.db"

        with report.step("prepare"):
            prepared = prepare(
                input_dir,
                scratch,
                max_image_size=settings.max_image_size,
                max_extract_gib=settings.max_extract_gib,
                video_frame_interval_s=settings.video_frame_interval_s,
                video_max_frames=settings.video_max_frames,
                threads=threads,
            )
        photos = prepared.photos
        _require_enough_photos(prepared)

        with report.step("extract"):
            extraction = extract_features(
                database,
                image_dir,
                photos,
                max_num_features=settings.max_num_features,
                upsample_below=settings.upsample_below,
                threads=threads,
            )

        plan = plan_for(photos, settings)
        log.info("matching: %s, %s", plan.mode, plan.reason)
        with report.step("match"):
            matches = match_pairs(database, plan, scratch, threads=threads, seed=settings.seed)

        fixes = usable_fixes(photos)
        with report.step("map"):
            priors = 0
            if settings.mapping_gps_sigma_m > 0:
                priors = write_position_priors(database, fixes, settings.mapping_gps_sigma_m)
            mapping = reconstruct(
                database,
                image_dir,
                scratch,
                mapper=settings.mapper,
                photos=photos,
                focal_px=typical_focal_px(photos),
                max_focal_change=settings.max_focal_change,
                use_priors=priors > 0,
                fixes=fixes,
                gps_sigma_m=seeding_sigma_m(fixes, settings.mapping_gps_sigma_m),
                threads=threads,
                seed=settings.seed,
            )
            merged = join_models(mapping, photos, fixes, settings.gps_max_error_m)
        model = _require_coverage(
            merged.model if merged else None, photos, settings.min_registered_share
        )

        with report.step("georeference"):
            alignment = georeference(model, photos, fixes, mapping, settings)
            geo = alignment.georeference
            _require_georeference(alignment, settings.require_georeference)
            write_georeference(output_dir / GEOREFERENCE_NAME, geo, alignment.reason)
        write_names(output_dir / IMAGE_NAMES_NAME, {p.name: p.source for p in photos})

        figures = measure(model)
        with report.step("undistort"):
            final = undistort(model, image_dir, scratch, output_dir, threads=threads)

        with report.step("plot"):
            title = (
                f"{len(figures.registered)}/{len(photos)} cameras, {final.num_points3D()} points, "
                f"matching {plan.mode}"
            )
            plot_flight(
                final, [p.name for p in photos], output_dir / "flight.png", geo is not None, title
            )
            write_flight(output_dir / FLIGHT_NAME, final, photos, geo)
        record(
            report,
            Results(prepared, extraction, plan, matches, mapping, figures, alignment, merged),
            max_image_size=settings.max_image_size,
        )
    return report


def record(report: Report, results: Results, *, max_image_size: int) -> None:
    """The report's metrics, details and warnings from the steps' results.

    files_total counts the files in the upload (archives unpacked), images_total those that
    decoded as photos (all handed to pycolmap), images_registered those placed in the model.
    """
    prepared, photos, model = results.prepared, results.prepared.photos, results.model
    metrics = report.metrics
    metrics["files_total"] = prepared.files_total
    metrics["images_skipped"] = len(prepared.skipped)
    metrics["images_total"] = len(photos)
    with_gps = sum(p.exif.gps is not None for p in photos)
    metrics["images_with_gps"] = with_gps
    damaged = [p for p in photos if p.exif.damaged]
    metrics["images_exif_damaged"] = len(damaged)
    metrics["cameras"] = results.extraction.cameras
    metrics["pairs_planned"] = len(results.plan.pairs)
    metrics["pairs_verified"] = results.matches.pairs_verified
    metrics["images_registered"] = len(model.registered)
    # measured on the distorted model, in working-image pixels, as pycolmap reports it
    metrics["points"] = model.points
    metrics["mean_reprojection_error_px"] = round(model.mean_reprojection_error_px, 4)
    metrics["mean_track_length"] = round(model.mean_track_length, 3)
    report.details["matching"] = {"mode": results.plan.mode, "reason": results.plan.reason}
    report.details["mapping"] = {"mapper": results.mapping.mapper, "note": results.mapping.note}
    report.details["working_image_size"] = {
        "max_image_size": max_image_size,
        "scale_mean": float(np.mean([p.width / p.original_width for p in photos])),
    }

    for skip in prepared.skipped[:_MAX_LISTED_SKIPS]:
        report.warn(f"skipped {skip.name}: {skip.reason}")
    if len(prepared.skipped) > _MAX_LISTED_SKIPS:
        report.warn(f"skipped {len(prepared.skipped) - _MAX_LISTED_SKIPS} more unreadable files")
    for photo in damaged[:_MAX_LISTED_SKIPS]:
        report.warn(
            f"{photo.source}: its EXIF block is damaged ({photo.exif.damaged}), so its GPS "
            "position, focal length or capture time may be missing"
        )
    record_videos(report, prepared.videos)
    if 0 < with_gps < len(photos):
        report.warn(f"{len(photos) - with_gps} of {len(photos)} photos carry no GPS position")
    if with_gps == 0:
        report.warn("no photo carries GPS: the model stays in its own frame and scale")
    repeated = repeated_fixes([p.name for p in photos], [p.exif.gps for p in photos])
    metrics["gps_repeated_fixes"] = len(repeated)
    if repeated:
        sources = {p.name: p.source for p in photos}
        report.warn(
            f"{len(repeated)} photos repeat the previous photo's GPS fix exactly (the receiver "
            "had no new fix), so their fixes are not used: "
            + ", ".join(sources[n] for n in repeated[:_MAX_LISTED_MISSING])
        )
    if any(p.focal_px is None for p in photos):
        report.warn(
            "some photos carry no focal length in EXIF (no 35 mm equivalent, no focal length "
            f"with focal plane resolution): their focal length starts at "
            f"{_FALLBACK_FOCAL_FACTOR} x the long side and is refined by bundle adjustment"
        )
    metrics["models_found"] = results.mapping.models_found
    _record_merge(report, results.merged)
    _record_focal(report, results.alignment.focal, photos)
    missing = [p.source for p in photos if p.name not in model.registered]
    if missing:
        report.warn(
            f"{len(missing)} photos could not be placed in the model: "
            + ", ".join(missing[:_MAX_LISTED_MISSING])
            + (" ..." if len(missing) > _MAX_LISTED_MISSING else "")
        )
    _record_georeference(report, results.alignment)


def record_videos(report: Report, videos: list[VideoFrames]) -> None:
    ok = [v for v in videos if not v.error]
    if not videos:
        return
    report.details["videos"] = [v.summary() for v in videos]
    report.metrics["video_frames_taken"] = sum(v.taken for v in ok)
    for video in ok:
        # how many and why, in the details; a video that gave nothing is a warning
        log.info(
            "%s: %d frames taken of %d (%.1f s; the sharpest frame every %g s, %d rejected as "
            "motion-blurred)", video.name, video.taken, video.frames_decoded, video.duration_s,
            video.interval_s, video.rejected_blur,
        )  # fmt: skip
        if not video.taken:
            report.warn(f"{video.name}: no usable frame among {video.frames_decoded}")
        if not video.telemetry:
            report.warn(
                f"{video.name}: no DJI .SRT telemetry of the same name beside it, so its frames "
                "carry no GPS"
            )


def _require_enough_photos(prepared: Prepared) -> None:
    photos, skipped = prepared.photos, prepared.skipped
    if len(photos) >= MIN_IMAGES:
        return
    unusable = ""
    if skipped:
        listed = ", ".join(s.name for s in skipped[:5]) + (" ..." if len(skipped) > 5 else "")
        unusable = f" (skipped: {listed})"
    raise SpaceportError(
        f"Only {len(photos)} usable photos ({ACCEPTED}) were found among "
        f"{prepared.files_total} files in the input{unusable}; structure-from-motion needs "
        f"at least {MIN_IMAGES} overlapping photos, so upload more."
    )


def _require_coverage(
    model: pycolmap.Reconstruction | None, photos: list[Photo], min_share: float
) -> pycolmap.Reconstruction:
    """`model`, unless it holds too few of the photos."""
    registered = model.num_reg_images() if model is not None else 0
    share = registered / len(photos)
    if model is None or registered < MIN_IMAGES or share < min_share:
        found = (
            "no model could be built from them"
            if model is None
            else f"the largest model holds only {registered} of them ({share:.0%}, "
            f"at least {min_share:.0%} needed)"
        )
        raise SpaceportError(f"The {len(photos)} photos do not overlap enough: {found}; {_ADVICE}.")
    return model


def _record_merge(report: Report, merged: MergedModels | None) -> None:
    if merged is None:
        return
    report.metrics["models_merged"] = merged.merged
    if merged.merged > 1:
        report.details["mapping"]["note"] += (
            f"; {merged.merged} separate models were joined by their GPS into one"
        )
    if merged.left_out:
        report.warn(
            f"{len(merged.left_out)} separate models ({', '.join(map(str, merged.left_out))} "
            "images) could not be placed by their GPS and were left out"
        )


def _record_focal(report: Report, focal: FocalFigures, photos: list[Photo]) -> None:
    sources = sorted({p.focal_source for p in photos if p.focal_px})
    report.details["focal"] = {"prior_sources": sources, "held_at_prior": focal.held}
    if focal.prior_px is None:
        return
    report.metrics["focal_prior_px"] = round(focal.prior_px, 1)
    report.metrics["focal_refined_px"] = round(focal.refined_px, 1)
    report.metrics["focal_change"] = round(focal.change, 4)
    if focal.held:
        report.warn(
            f"the focal length was held at its EXIF prior ({focal.prior_px:.0f} px): refining "
            "it took it too far, as weak overlap allows"
        )


def _record_georeference(report: Report, alignment: Alignment) -> None:
    geo = alignment.georeference
    if geo is None:
        report.warn(f"model not georeferenced: {alignment.reason}; it stays in its own frame")
        report.details["georeference"] = {"georeferenced": False, "reason": alignment.reason}
        return
    report.details["georeference"] = {
        "georeferenced": True,
        "frame": "ENU metres (x east, y north, z up)",
        "origin": {"lat": geo.origin.lat, "lon": geo.origin.lon, "alt": geo.origin.alt},
        "origin_rule": geo.origin_rule,
        "vertical_from": geo.vertical_source,
        "gps_noise_from": (
            "the receiver's stated accuracy"
            if geo.gps_sigma_source == "receiver"
            else "the residuals"
        ),
        "outliers": geo.outliers,
        "trustworthy": not alignment.verdict.untrustworthy,
    }
    r = geo.residuals
    metrics = report.metrics
    for key, value in (
        ("georeference_residual_rms_m", r.rms_m),
        ("georeference_residual_median_m", r.median_m),
        ("georeference_residual_p95_m", r.p95_m),
        ("georeference_horizontal_rms_m", r.horizontal_rms_m),
        ("georeference_horizontal_median_m", r.horizontal_median_m),
        ("georeference_horizontal_p95_m", r.horizontal_p95_m),
        ("georeference_vertical_rms_m", r.vertical_rms_m),
        ("georeference_vertical_median_m", r.vertical_median_m),
        ("georeference_vertical_p95_m", r.vertical_p95_m),
        ("georeference_inlier_share", geo.inlier_share),
        ("georeference_outlier_m", geo.outlier_m),
        ("gps_horizontal_noise_m", geo.gps_sigma_h_m),
        ("gps_vertical_noise_m", geo.gps_sigma_v_m),
        ("gps_altitude_drift_m", geo.altitude_drift_m),
        ("gps_altitude_offset_m", geo.altitude_offset_m),
        ("gps_altitude_scatter_m", geo.altitude_scatter_m),
        ("gps_jumps", len(geo.outliers)),
    ):
        metrics[key] = round(float(value), 3)
    metrics["georeference_scale"] = geo.scale
    if geo.ground_tilt_deg is not None:
        metrics["ground_tilt_deg"] = round(geo.ground_tilt_deg, 2)
    for line in alignment.verdict.warnings:
        report.warn(line)
    if not geo.has_altitude:
        report.warn("GPS altitude missing: heights in the ENU frame are approximate")
