"""Reconstruction error of a decoded model against the original, per attribute (RMSE)."""

from __future__ import annotations

import numpy as np

from spaceport_compress.attributes import linear_opacity
from spaceport_shared.splat import SplatModel


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    if a.size == 0:
        return 0.0
    diff = a.astype(np.float64) - b.astype(np.float64)
    return float(np.sqrt(np.mean(diff * diff)))


def unit_quats(quats: np.ndarray) -> np.ndarray:
    """Normalised, with the sign that makes w >= 0 (q and -q are the same rotation)."""
    q = quats.astype(np.float64)
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    return q * np.where(q[:, :1] < 0, -1.0, 1.0)


def attribute_rmse(original: SplatModel, decoded: SplatModel) -> dict[str, float]:
    """RMSE per attribute, both models in the same splat order.

    Units: means in world units, quats on unit quaternions (sign-aligned), scales in log space,
    opacity as linear opacity in [0, 1] (the stored quantity; logits blow up near 0 and 1),
    sh0 and shN as SH coefficients.
    """
    q_orig = unit_quats(original.quats)
    q_dec = decoded.quats.astype(np.float64)
    q_dec = q_dec / np.linalg.norm(q_dec, axis=1, keepdims=True)
    q_dec *= np.where((q_orig * q_dec).sum(axis=1, keepdims=True) < 0, -1.0, 1.0)

    return {
        "rmse_means": _rmse(original.means, decoded.means),
        "rmse_quats": _rmse(q_orig, q_dec),
        "rmse_scales": _rmse(original.scales, decoded.scales),
        "rmse_opacity": _rmse(
            linear_opacity(original.opacities), linear_opacity(decoded.opacities)
        ),
        "rmse_sh0": _rmse(original.sh0, decoded.sh0),
        "rmse_shN": _rmse(original.shN, decoded.shN),
    }


# Decoded-against-input RMSE above which a .sog probably looks wrong: about ten times what the
# trained models of the README give, which quantisation alone does not reach.
SUSPECT_RMSE = {
    "rmse_quats": 0.02,
    "rmse_scales": 0.15,
    "rmse_opacity": 0.02,
    "rmse_sh0": 0.05,
    "rmse_shN": 0.15,
}
SUSPECT_MEANS_FRACTION = 1e-3  # positions: of the scene's extent (the largest bounding-box side)


class VerificationError(Exception):
    """The written .sog does not decode to the model it was made from (a bug, not the input's)."""


def verify(original: SplatModel, decoded: SplatModel) -> tuple[dict[str, float], list[str]]:
    """The RMSE per attribute and warnings for suspect ones; VerificationError when the decoded
    model is not the original's (another splat count, non-finite values or errors)."""
    if decoded.count != original.count:
        raise VerificationError(
            f"The written SOG decodes to {decoded.count} splats, not {original.count}."
        )
    errors = attribute_rmse(original, decoded)
    broken = sorted(name for name, value in errors.items() if not np.isfinite(value))
    if broken:
        raise VerificationError(
            f"The written SOG decodes to non-finite values ({', '.join(broken)})."
        )
    extent = float(np.ptp(original.means, axis=0).max()) if original.count else 0.0
    limits = {**SUSPECT_RMSE, "rmse_means": SUSPECT_MEANS_FRACTION * max(extent, 1e-6)}
    warnings = [
        f"the decoded {name.removeprefix('rmse_')} differ from the input by RMSE {errors[name]:.3g}"
        f" (more than {limit:.3g}); the .sog may look wrong"
        for name, limit in limits.items()
        if errors[name] > limit
    ]
    return errors, warnings
