"""Bundle adjustment with the GPS inside: pycolmap's pose-prior bundle adjuster.

Each trusted fix is a position prior with its covariance (horizontal tighter than vertical,
from `gps_quality.py`) under a Cauchy loss, so a fix the assessment missed pulls little; the
reprojection residuals are under a Cauchy loss too, so a few bad links cannot drag cameras
away from their fixes by tens of metres where the overlap is weak. The
adjuster first aligns the model to the priors by RANSAC (within the outlier distance), which
is near the identity here: the model already sits on them.
"""

from __future__ import annotations

import logging

import pycolmap

from spaceport_sfm.intrinsics import hold_focal, largest_focal_change

log = logging.getLogger(__name__)

# Cauchy scale on the covariance-whitened prior residual: sqrt of chi2(3 dof, 95 %) = 7.815,
# pycolmap's own default for the robust prior loss.
_PRIOR_LOSS_SCALE = 7.815**0.5
# Cauchy scale (pixels) on the reprojection residuals, at SIFT's localisation noise: an
# observation the photos' other links disagree with, a false match or a view the lens model
# fits poorly, pulls little against the fixes. Measured on garfield (GPS-seeded, weak overlap):
# 13.1 m RMS from GPS with the squared loss, 6.0 m at 0.5 px, 8.8 m at 1 px, 13.9 m at 2 px,
# with the lowest reprojection error at 0.5 px (0.87 px); at 0.1 px the cameras follow the
# fixes' own noise (0.1 m median). brighton_beach 0.42 -> 0.41 m, lund 4.43 -> 4.24 m.
_REPROJECTION_LOSS_PX = 0.5


def _adjust(
    model: pycolmap.Reconstruction,
    priors: list[pycolmap.PosePrior],
    outlier_m: float,
    refine_focal: bool,
    threads: int,
) -> None:
    config = pycolmap.BundleAdjustmentConfig()
    for image_id in model.reg_image_ids():
        config.add_image(image_id)
    options = pycolmap.BundleAdjustmentOptions()
    options.refine_focal_length = refine_focal
    options.print_summary = False
    options.ceres.loss_function_type = pycolmap.LossFunctionType.CAUCHY
    options.ceres.loss_function_scale = _REPROJECTION_LOSS_PX
    options.ceres.solver_options.num_threads = threads if threads > 0 else -1
    prior_options = pycolmap.PosePriorBundleAdjustmentOptions()
    prior_options.alignment_ransac.max_error = outlier_m
    prior_options.alignment_ransac.random_seed = 0
    prior_options.ceres.prior_position_loss_function_type = pycolmap.LossFunctionType.CAUCHY
    prior_options.ceres.prior_position_loss_scale = _PRIOR_LOSS_SCALE
    adjuster = pycolmap.create_pose_prior_bundle_adjuster(
        options, prior_options, config, priors, model
    )
    adjuster.solve()


def adjust_to_gps(
    model: pycolmap.Reconstruction,
    priors: list[pycolmap.PosePrior],
    *,
    outlier_m: float,
    focal_priors: dict[int, float],
    refine_focal: bool,
    max_focal_change: float,
    threads: int,
) -> bool:
    """Adjust `model` (already in ENU metres) with `priors`; return whether the focal was held
    at its EXIF prior because refinement took it further than `max_focal_change`."""
    if len(priors) < 3:
        return not refine_focal
    _adjust(model, priors, outlier_m, refine_focal, threads)
    change = largest_focal_change(model, focal_priors)
    if not refine_focal or change <= max_focal_change:
        return not refine_focal
    log.info("GPS adjustment took the focal %.0f%% from its EXIF prior; holding it", 100 * change)
    hold_focal(model, focal_priors)
    _adjust(model, priors, outlier_m, False, threads)
    return True
