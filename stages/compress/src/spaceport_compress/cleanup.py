"""Splats the encoder cannot or need not store: non-finite values, zero-length rotations, and
(optionally) splats too faint to see."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spaceport_compress.attributes import linear_opacity
from spaceport_shared.splat import SplatModel


@dataclass(frozen=True)
class CleanupCounts:
    nonfinite: int
    zero_quat: int
    faint: int
    kept: int


def usable_splats(model: SplatModel, min_opacity: float = 0.0) -> tuple[np.ndarray, CleanupCounts]:
    """[N] mask of the splats worth encoding, and how many of each kind were dropped."""
    finite = model.finite_mask()
    with np.errstate(invalid="ignore", over="ignore"):
        norm2 = (model.quats.astype(np.float64) ** 2).sum(axis=1)
        zero_quat = finite & ~(norm2 > 1e-24)
        keep = finite & ~zero_quat
        faint = np.zeros_like(keep)
        if min_opacity > 0:
            opacity = linear_opacity(model.opacities)
            faint = keep & (opacity < min_opacity)
    keep &= ~faint
    counts = CleanupCounts(
        nonfinite=int((~finite).sum()),
        zero_quat=int(zero_quat.sum()),
        faint=int(faint.sum()),
        kept=int(keep.sum()),
    )
    return keep, counts
