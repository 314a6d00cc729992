"""The SH palette: k-means over the splats' higher-order SH vectors (faiss on the CPU).

SOG stores one 16-bit palette label per splat and at most 65,536 palette entries. With a palette
of tens of thousands of entries, exact assignment (every point against every centroid) costs
N·k·d per Lloyd iteration: about 100 s per iteration for 100k SH-3 splats and a 64k palette on
two cores. Here the assignment goes through an inverted file instead (faiss `IndexIVFFlat` over
a coarse k-means of the data, searching the `nprobe` nearest cells), which makes each iteration
about 30x cheaper for the same Lloyd updates. faiss also re-seeds empty clusters by splitting the
largest ones, where splat-transform moves them to a random point.

faiss was chosen over scikit-learn: for this shape (100k x 45, k=64k) scikit-learn's KMeans and
MiniBatchKMeans only do exact assignment and would need minutes per iteration; see
stages/compress/README.md for the measurement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import faiss
import numpy as np

from spaceport_compress.morton import morton_order

MAX_PALETTE = 65536  # labels are 16-bit
TRAIN_POINTS_PER_ENTRY = 8
ITERATIONS = 10  # splat-transform's; the objective settles after ~5 (stages/compress/README.md)
# 4 cells left the shN error 0.2% above splat-transform's exact assignment on a trained 100k model
NPROBE = 8


def default_palette_size(count: int) -> int:
    """splat-transform's rule: min(64, 2^floor(log2(N / 1024))) * 1024 entries."""
    if count <= 0:
        return 0
    return int(min(64.0, 2.0 ** math.floor(math.log2(count / 1024))) * 1024)


@dataclass(frozen=True)
class Palette:
    centroids: np.ndarray  # [P, D] float32
    labels: np.ndarray  # [N] int64, index into centroids
    counts: np.ndarray  # [P] splats per entry


def _coarse_index(data: np.ndarray, cells: int, seed: int) -> faiss.IndexIVFFlat:
    d = data.shape[1]
    coarse = faiss.Kmeans(d, cells, niter=10, seed=seed, max_points_per_centroid=256)
    coarse.train(data)
    quantizer = faiss.IndexFlatL2(d)
    quantizer.add(coarse.centroids)
    index = faiss.IndexIVFFlat(quantizer, d, cells)
    index.is_trained = True
    return index


def nearest(index: faiss.Index, entries: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Labels of the nearest `entries` row for every `data` row, through `index` (reset here)."""
    index.reset()
    index.add(np.ascontiguousarray(entries, dtype=np.float32))
    _, labels = index.search(data, 1)
    labels = labels[:, 0]
    missing = labels < 0  # an empty probe set: fall back to the exact search for those rows
    if missing.any():
        exact = faiss.IndexFlatL2(entries.shape[1])
        exact.add(np.ascontiguousarray(entries, dtype=np.float32))
        _, fixed = exact.search(data[missing], 1)
        labels[missing] = fixed[:, 0]
    return labels.astype(np.int64)


def assignment_index(data: np.ndarray, size: int, nprobe: int, seed: int) -> faiss.Index:
    """The index used to assign points to a palette of `size` entries."""
    d = data.shape[1]
    if size <= 4096:  # small palettes: exact search is cheap enough
        return faiss.IndexFlatL2(d)
    cells = int(min(1024, max(64, round(math.sqrt(size)))))
    index = _coarse_index(data, cells, seed)
    index.nprobe = nprobe
    return index


def fit_palette(
    data: np.ndarray,  # [N, D] float32
    size: int,
    iterations: int = ITERATIONS,
    nprobe: int = NPROBE,
    seed: int = 0,
    threads: int = 0,
) -> tuple[Palette, faiss.Index | None]:
    """k-means palette of at most `size` entries; also returns the assignment index."""
    if threads > 0:
        faiss.omp_set_num_threads(threads)
    data = np.ascontiguousarray(data, dtype=np.float32)
    n, d = data.shape
    if n <= size:  # every splat is its own entry: exact
        labels = np.arange(n, dtype=np.int64)
        return Palette(data.copy(), labels, np.ones(n, np.int64)), None
    index = assignment_index(data, size, nprobe, seed)
    clustering = faiss.Clustering(d, size)
    clustering.niter = iterations
    clustering.seed = seed
    # Lloyd on at most 8 points per entry (a 1M-splat model trains on a 512k sample); every
    # splat is assigned and the entries re-centred on all their members afterwards
    clustering.max_points_per_centroid = TRAIN_POINTS_PER_ENTRY
    clustering.min_points_per_centroid = 1
    clustering.train(data, index)
    centroids = faiss.vector_float_to_array(clustering.centroids).reshape(size, d)
    labels = nearest(index, centroids, data)
    centroids, labels, counts = _recentre(data, labels, size)
    return Palette(centroids, labels, counts), index


def _recentre(
    data: np.ndarray, labels: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each entry moved to the mean of its final members; entries nobody uses are dropped."""
    counts = np.bincount(labels, minlength=size)
    used = np.flatnonzero(counts)
    remap = np.full(size, -1, np.int64)
    remap[used] = np.arange(used.size)
    labels = remap[labels]
    sums = np.stack(
        [
            np.bincount(labels, weights=data[:, j], minlength=used.size)
            for j in range(data.shape[1])
        ],
        axis=1,
    )
    counts = counts[used]
    centroids = (sums / counts[:, None]).astype(np.float32)
    return centroids, labels, counts


def similarity_order(centroids: np.ndarray) -> np.ndarray:
    """Entry order [P] putting similar entries side by side: Z-order of their first three
    principal components (shN_centroids.webp compresses ~8% better than in k-means order)."""
    centred = centroids.astype(np.float64) - centroids.mean(axis=0)
    sample = centred[:: max(1, len(centred) // 20000)]
    _, _, axes = np.linalg.svd(sample, full_matrices=False)
    projected = centred @ axes[:3].T
    # a tiny palette (fewer than 3 entries) has fewer than 3 axes: pad to the 3 Morton needs
    padded = np.zeros((len(projected), 3))
    padded[:, : projected.shape[1]] = projected
    return morton_order(padded)


def first_use_order(labels_in_texel_order: np.ndarray, size: int) -> np.ndarray:
    """Entry order [P] by the first texel using each entry (unused entries last): neighbouring
    texels then carry nearby label numbers, which shN_labels.webp stores in fewer bytes."""
    first = np.full(size, len(labels_in_texel_order), np.int64)
    np.minimum.at(first, labels_in_texel_order, np.arange(len(labels_in_texel_order)))
    return np.argsort(first, kind="stable")


def reorder(palette: Palette, entry_order: np.ndarray) -> Palette:
    """The same palette with entry `entry_order[i]` moved to position i."""
    rank = np.empty_like(entry_order)
    rank[entry_order] = np.arange(len(entry_order))
    return Palette(
        palette.centroids[entry_order], rank[palette.labels], palette.counts[entry_order]
    )
