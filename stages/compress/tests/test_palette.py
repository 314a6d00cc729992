from __future__ import annotations

import numpy as np

from spaceport_compress.palette import (
    default_palette_size,
    first_use_order,
    fit_palette,
    reorder,
    similarity_order,
)


def test_default_size_follows_splat_transform() -> None:
    # min(64, 2^floor(log2(N / 1024))) * 1024
    assert default_palette_size(100_000) == 65536
    assert default_palette_size(65_536) == 65536
    assert default_palette_size(20_000) == 16384
    assert default_palette_size(3_000) == 2048
    assert default_palette_size(1_000) == 512


def _clustered(rng: np.random.Generator, n: int, d: int, groups: int) -> np.ndarray:
    centres = rng.normal(0, 1, (groups, d))
    return (centres[rng.integers(0, groups, n)] + rng.normal(0, 0.01, (n, d))).astype(np.float32)


def test_palette_finds_clusters_and_is_consistent() -> None:
    rng = np.random.default_rng(0)
    data = _clustered(rng, 6000, 9, 40)
    palette, _ = fit_palette(data, 256, iterations=10)
    assert palette.labels.min() >= 0 and palette.labels.max() < len(palette.centroids)
    assert palette.counts.sum() == len(data)
    np.testing.assert_array_equal(np.bincount(palette.labels), palette.counts)
    rmse = np.sqrt(np.mean((palette.centroids[palette.labels] - data) ** 2))
    assert rmse < 0.05  # each of the 40 groups got entries of its own


def test_large_palette_goes_through_the_inverted_file() -> None:
    rng = np.random.default_rng(1)
    data = _clustered(rng, 12000, 9, 3000)
    palette, index = fit_palette(data, 6000, iterations=5, nprobe=4)
    assert index is not None and index.__class__.__name__ == "IndexIVFFlat"
    rmse = np.sqrt(np.mean((palette.centroids[palette.labels] - data) ** 2))
    assert rmse < 0.1


def test_small_input_is_its_own_palette() -> None:
    data = np.random.default_rng(2).normal(size=(100, 45)).astype(np.float32)
    palette, index = fit_palette(data, 1024)
    assert index is None
    np.testing.assert_array_equal(palette.centroids[palette.labels], data)


def test_entry_orders_are_permutations_that_keep_the_decoded_values() -> None:
    rng = np.random.default_rng(3)
    data = _clustered(rng, 3000, 9, 100)
    palette, _ = fit_palette(data, 256, iterations=5)
    texel_order = rng.permutation(len(data))
    first = first_use_order(palette.labels[texel_order], len(palette.centroids))
    for entry_order in (similarity_order(palette.centroids), first):
        moved = reorder(palette, entry_order)
        np.testing.assert_array_equal(
            moved.centroids[moved.labels], palette.centroids[palette.labels]
        )
    # in first-use order, labels along the texels first appear as 0, 1, 2, ...
    labels = reorder(palette, first).labels[texel_order]
    _, first_seen = np.unique(labels, return_index=True)
    assert np.array_equal(np.argsort(first_seen), np.arange(len(first_seen)))
