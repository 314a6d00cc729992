"""PLAS: Parallel Linear Assignment Sorting (Morgenstern et al., "Compact 3D Scene
Representation via Self-Organizing Gaussian Grids", ECCV 2024), on the CPU with numpy.

The splats are laid into the texture grid (row-major, the first N texels) and sorted so that
neighbouring texels hold similar splats. For a shrinking radius r: blur the grid's feature
vectors with a box filter of radius r (the target each texel should look like), draw random
groups of four texels inside random r-sized tiles, and give each group the one of its 24
permutations that brings its members closest to the targets. The reference implementation
(fraunhoferhhi/PLAS) is PyTorch on a GPU and not on PyPI, hence this vectorised port.
"""

from __future__ import annotations

import itertools

import numpy as np

_PERMUTATIONS = np.array(list(itertools.permutations(range(4))), np.int64)  # [24, 4]


def plas_features(
    means: np.ndarray,  # [N, 3]
    sh0: np.ndarray,  # [N, 3]
    scales: np.ndarray,  # [N, 3] log
    opacity: np.ndarray,  # [N] linear
) -> np.ndarray:
    """What the sort should make smooth: position (in the log space SOG stores), colour, size
    and opacity, each standardised and weighted."""
    log_means = np.sign(means) * np.log1p(np.abs(means))
    parts = [(log_means, 1.0), (sh0, 1.0), (scales, 0.5), (opacity[:, None], 0.5)]
    columns = []
    for values, weight in parts:
        values = values.astype(np.float64)
        std = values.std(axis=0)
        columns.append((values - values.mean(axis=0)) / np.where(std > 0, std, 1.0) * weight)
    return np.concatenate(columns, axis=1).astype(np.float32)


def _box_blur(grid: np.ndarray, mask: np.ndarray, radius: int) -> np.ndarray:
    """Mean of the occupied texels within `radius` (a box) of each texel, via integral images."""
    h, w, d = grid.shape
    weighted = np.concatenate([grid * mask[..., None], mask[..., None]], axis=2).astype(np.float64)
    integral = np.zeros((h + 1, w + 1, d + 1))
    integral[1:, 1:] = weighted.cumsum(0).cumsum(1)
    r0 = np.clip(np.arange(h) - radius, 0, h)
    r1 = np.clip(np.arange(h) + radius + 1, 0, h)
    c0 = np.clip(np.arange(w) - radius, 0, w)
    c1 = np.clip(np.arange(w) + radius + 1, 0, w)
    box = integral[r1][:, c1] - integral[r0][:, c1] - integral[r1][:, c0] + integral[r0][:, c0]
    return (box[..., :d] / np.maximum(box[..., d:], 1.0)).astype(np.float32)


def _random_groups(rng: np.random.Generator, count: int, width: int, tile: int) -> np.ndarray:
    """[G, 4] texel indices (all < count), each group inside one randomly shifted tile."""
    cells = np.arange(count)
    oy, ox = rng.integers(0, tile, size=2)
    tile_id = ((cells // width + oy) // tile) * (width // tile + 2) + (cells % width + ox) // tile
    order = np.lexsort((rng.random(count), tile_id))
    usable = (count // 4) * 4
    groups = order[:usable].reshape(-1, 4)
    same_tile = (tile_id[groups] == tile_id[groups[:, :1]]).all(axis=1)
    return groups[same_tile]


def plas_order(
    features: np.ndarray,  # [N, D]
    initial: np.ndarray,  # [N] a starting permutation (e.g. Morton)
    width: int,
    height: int,
    seed: int = 0,
    shrink: float = 0.9,
    iterations_per_radius: int = 3,
) -> np.ndarray:
    """The permutation [N] (texel i holds splat order[i]) after PLAS-sorting the features."""
    n, d = features.shape
    if n < 16:
        return initial.copy()
    rng = np.random.default_rng(seed)
    order = initial.copy()
    grid = np.zeros((height * width, d), np.float32)
    grid[:n] = features[order]
    mask = np.zeros(height * width, np.float32)
    mask[:n] = 1.0
    mask2d = mask.reshape(height, width)
    radius = max(width, height) / 2
    while True:
        r = max(1, int(radius))
        tile = max(2, 2 * r)
        for _ in range(iterations_per_radius):
            target = _box_blur(grid.reshape(height, width, d), mask2d, r).reshape(-1, d)
            groups = _random_groups(rng, n, width, tile)  # [G, 4]
            members = grid[groups]  # [G, 4, D]: who is there now
            goals = target[groups]  # [G, 4, D]: what each place wants
            # cost[g, i, j]: member i moved to place j
            cost = (
                (members * members).sum(-1)[:, :, None]
                - 2.0 * np.einsum("gid,gjd->gij", members, goals)
                + (goals * goals).sum(-1)[:, None, :]
            )
            perm_cost = cost[:, np.arange(4)[None, :], _PERMUTATIONS].sum(-1)  # [G, 24]
            best = _PERMUTATIONS[np.argmin(perm_cost, axis=1)]  # member i goes to place best[i]
            places = np.take_along_axis(groups, best, axis=1)
            moved_order = order[groups]
            order[places.ravel()] = moved_order.ravel()
            grid[places.ravel()] = members.reshape(-1, d)
        if r == 1:
            break
        radius *= shrink
    return order
