"""Morton (Z-order) ordering of splats by position: neighbours in space become neighbours in
the images, which is what lets lossless WebP find redundancy."""

from __future__ import annotations

import numpy as np

_BITS = 21  # per axis: a 63-bit key


def _spread_bits(v: np.ndarray) -> np.ndarray:
    """Insert two zero bits between each of the low 21 bits of `v` (uint64)."""
    v = v & np.uint64(0x1FFFFF)
    v = (v | (v << np.uint64(32))) & np.uint64(0x1F00000000FFFF)
    v = (v | (v << np.uint64(16))) & np.uint64(0x1F0000FF0000FF)
    v = (v | (v << np.uint64(8))) & np.uint64(0x100F00F00F00F00F)
    v = (v | (v << np.uint64(4))) & np.uint64(0x10C30C30C30C30C3)
    v = (v | (v << np.uint64(2))) & np.uint64(0x1249249249249249)
    return v


def morton_codes(means: np.ndarray) -> np.ndarray:
    """[N, 3] positions -> [N] uint64 Z-order keys over the bounding box."""
    lo = means.min(axis=0).astype(np.float64)
    span = means.max(axis=0).astype(np.float64) - lo
    scale = np.where(span > 0, ((1 << _BITS) - 1) / np.where(span > 0, span, 1.0), 0.0)
    cells = np.clip((means - lo) * scale, 0, (1 << _BITS) - 1).astype(np.uint64)
    return (
        _spread_bits(cells[:, 0])
        | (_spread_bits(cells[:, 1]) << np.uint64(1))
        | (_spread_bits(cells[:, 2]) << np.uint64(2))
    )


def morton_order(means: np.ndarray) -> np.ndarray:
    """The permutation [N] that puts the splats in Z-order of their positions."""
    if len(means) == 0:
        return np.zeros(0, np.int64)
    return np.argsort(morton_codes(means), kind="stable")
