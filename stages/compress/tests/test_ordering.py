from __future__ import annotations

import numpy as np

from spaceport_compress.morton import morton_codes, morton_order
from spaceport_compress.plas import plas_features, plas_order
from spaceport_compress.sog_format import texture_size


def _neighbour_distance(values: np.ndarray, order: np.ndarray, width: int) -> float:
    """Mean distance between horizontally and vertically adjacent texels."""
    v = values[order]
    n = len(v)
    right = np.arange(n - 1)
    right = right[(right % width) != width - 1]
    down = np.arange(n - width)
    pairs = np.r_[
        np.linalg.norm(v[right] - v[right + 1], axis=1),
        np.linalg.norm(v[down] - v[down + width], axis=1),
    ]
    return float(pairs.mean())


def test_morton_codes_interleave_bits() -> None:
    means = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], np.float32)
    codes = morton_codes(means)
    top = np.uint64((1 << 21) - 1)
    assert codes[0] == 0
    assert codes[1] == spread(top)
    assert codes[2] == spread(top) << np.uint64(1)
    assert codes[3] == spread(top) << np.uint64(2)
    assert codes[4] == spread(top) * np.uint64(7)


def spread(v: np.uint64) -> np.uint64:
    out = 0
    for bit in range(21):
        if int(v) >> bit & 1:
            out |= 1 << (3 * bit)
    return np.uint64(out)


def test_morton_order_is_a_local_permutation(model_sh3) -> None:
    order = morton_order(model_sh3.means)
    assert np.array_equal(np.sort(order), np.arange(model_sh3.count))
    steps = np.linalg.norm(np.diff(model_sh3.means[order], axis=0), axis=1)
    random_steps = np.linalg.norm(np.diff(model_sh3.means, axis=0), axis=1)
    assert np.median(steps) < 0.2 * np.median(random_steps)


def test_plas_makes_the_grid_smoother(model_sh3) -> None:
    m = model_sh3
    width, height = texture_size(m.count)
    opacity = 1 / (1 + np.exp(-m.opacities))
    features = plas_features(m.means, m.sh0[:, 0], m.scales, opacity)
    start = morton_order(m.means)
    order = plas_order(features, start, width, height, seed=0)
    assert np.array_equal(np.sort(order), np.arange(m.count))
    before = _neighbour_distance(features, start, width)
    after = _neighbour_distance(features, order, width)
    assert after < 0.8 * before
