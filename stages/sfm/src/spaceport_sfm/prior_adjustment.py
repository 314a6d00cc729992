"""Bundle adjustment with the GPS inside: pycolmap's pose-prior bundle adjuster.

Each trusted fix is a position prior with its covariance (horizontal tighter than vertical,
from `gps_quality.py`) under a Huber loss: a fix the assessment missed pulls with a bounded
force, and a camera the photos hold weakly (two-view tracks only) still feels its fix from
afar, which a redescending (Cauchy) loss lets go of (garfield, 5 seeds: Cauchy 4.2-5.9 m RMS
from GPS, Huber 3.6-5.4); the
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

# Huber scale on the covariance-whitened prior residual: sqrt of chi2(3 dof, 95 %) = 7.815,
# pycolmap's own default for the robust prior loss.
_PRIOR_LOSS_SCALE = 7.815**0.5
# Cauchy scale (pixels) on the reprojection residuals, at SIFT's localisation noise: an
# observation the photos' other links disagree with, a false match or a view the lens model
# fits poorly, pulls little against the fixes. Garfield's GPS-seeded model (weak overlap;
# seeds 0 and 1; RMS / horizontal median from GPS; measured with the Cauchy prior loss and the
# noise estimated from the residuals, before the receiver's stated accuracy): squared loss
# 11.3-12.3 / 6.0-6.3 m; 2 px 12.6-15.6 / 7.1-9.7 m; 1 px 9.9-10.3 / 4.1-4.6 m; 0.5 px
# 7.1-7.7 / 3.8 m; 0.25 px 3.4-4.2 / 1.1 m and 0.1 px 1.0-1.3 / 0.05 m, where the cameras
# follow the fixes' own noise. brighton_beach 0.42 -> 0.41 m, lund 4.43 -> 4.24 m.
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
    prior_options.ceres.prior_position_loss_function_type = pycolmap.LossFunctionType.HUBER
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
