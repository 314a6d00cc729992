"""Smooth random fields (value noise) sampled on regular grids, by Pillow's bicubic resize.

Each octave draws its own random lattice from its own seed stream and maps world metres to
lattice cells the same way at any output resolution, so a field looks the same whether it is
rendered at 5 cm or 50 cm per texel.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

_PAD = 3  # lattice cells beyond the extent on each side (bicubic support is 2)


def value_noise(
    seed: tuple[int, ...],
    extent: tuple[float, float, float, float],  # x0, y0, x1, y1 in metres
    cell_m: float,
    shape: tuple[int, int],  # rows (south to north), columns (west to east)
) -> np.ndarray:
    """Roughly unit-variance smooth noise [rows, cols] float32 with feature size `cell_m`.

    Lattice point (i, j) sits at world (j * cell_m, i * cell_m): anchored to the world origin so
    two extents that overlap agree where they overlap.
    """
    x0, y0, x1, y1 = extent
    i0, j0 = int(np.floor(y0 / cell_m)) - _PAD, int(np.floor(x0 / cell_m)) - _PAD
    i1, j1 = int(np.ceil(y1 / cell_m)) + _PAD, int(np.ceil(x1 / cell_m)) + _PAD
    lattice = _lattice(seed, i0, j0, i1 - i0 + 1, j1 - j0 + 1)
    # Pillow's box is in source pixel-edge coordinates: lattice point k is the centre k + 0.5.
    box = (
        x0 / cell_m - j0 + 0.5,
        y0 / cell_m - i0 + 0.5,
        x1 / cell_m - j0 + 0.5,
        y1 / cell_m - i0 + 0.5,
    )
    image = Image.fromarray(lattice, mode="F")
    out = image.resize((shape[1], shape[0]), Image.Resampling.BICUBIC, box=box)
    return np.asarray(out, dtype=np.float32)


def _lattice(seed: tuple[int, ...], i0: int, j0: int, rows: int, cols: int) -> np.ndarray:
    """Random values (unit variance) of lattice rows i0.., cols j0.., by hashing the indices.

    A hash rather than a random stream so a value depends only on its lattice point: any extent
    gives the same field, with no window to run out of.
    """
    key = np.uint64(0x243F6A8885A308D3)
    for part in seed:
        key = _mix(key ^ np.uint64(part & 0xFFFFFFFFFFFFFFFF))
    ii = np.arange(i0, i0 + rows, dtype=np.int64).astype(np.uint64)[:, None]
    jj = np.arange(j0, j0 + cols, dtype=np.int64).astype(np.uint64)[None, :]
    with np.errstate(over="ignore"):
        h = _mix(ii * np.uint64(0x9E3779B97F4A7C15) ^ _mix(jj ^ key))
    uniform = (h >> np.uint64(11)).astype(np.float64) * (2.0 / 2**53) - 1.0
    return (uniform * np.sqrt(3.0)).astype(np.float32)


def _mix(h: np.ndarray | np.uint64) -> np.ndarray:
    """splitmix64's finaliser: a well-spread 64-bit hash."""
    with np.errstate(over="ignore"):
        h = h ^ (h >> np.uint64(30))
        h = h * np.uint64(0xBF58476D1CE4E5B9)
        h = h ^ (h >> np.uint64(27))
        h = h * np.uint64(0x94D049BB133111EB)
        return h ^ (h >> np.uint64(31))


def fractal_noise(
    seed: tuple[int, ...],
    extent: tuple[float, float, float, float],
    shape: tuple[int, int],
    octaves: list[tuple[float, float]],  # (cell_m, amplitude)
    min_cell_m: float = 0.0,
) -> np.ndarray:
    """Sum of value-noise octaves; octaves finer than `min_cell_m` are left out (they would
    alias at this resolution)."""
    total = np.zeros(shape, dtype=np.float32)
    for k, (cell, amplitude) in enumerate(octaves):
        if cell >= min_cell_m:
            total += amplitude * value_noise((*seed, k), extent, cell, shape)
    return total
