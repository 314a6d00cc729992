"""256-entry scalar codebooks that minimise the squared error (optimal 1-D k-means).

SOG stores scales, the DC colour and the SH palette as bytes indexing a 256-entry codebook
per attribute (all its columns pooled). The codebook is found in two steps:

1. Dynamic programming over a fine histogram: the k-means optimum of the binned data, exact for
   the bins (Wang & Song's Ckmeans.1d.dp recurrence with the divide-and-conquer speed-up that the
   monotone split points allow, O(k·H·log H)).
2. Lloyd iterations on the exact sorted values (prefix sums make each one O(k·log N)), which can
   only lower the error the binning left.

splat-transform runs a similar DP but weights bins by sqrt(count), which favours the tails over
the squared error; this one minimises the squared error itself. No library on PyPI offers an
optimal 1-D quantiser that fits (ckmeans needs a per-value DP, too slow for millions of values),
hence the numba kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

CODEBOOK_SIZE = 256
_BINS = 4096  # per family (quantile edges and uniform edges); the union is up to 2x this
_LLOYD_ITERATIONS = 100


@dataclass(frozen=True)
class Codebook:
    values: np.ndarray  # [256] float32, ascending

    def encode(self, data: np.ndarray) -> np.ndarray:
        """The byte index of the nearest codebook value for every element of `data`."""
        mid = (self.values[1:].astype(np.float64) + self.values[:-1]) / 2
        return np.searchsorted(mid, data, side="right").astype(np.uint8)

    def decode(self, labels: np.ndarray) -> np.ndarray:
        return self.values[labels]


@numba.njit(cache=True)
def _range_cost(w, wx, wxx, a, b):  # bins a..b inclusive, weighted SSE around their mean
    sw = w[b + 1] - w[a]
    if sw <= 0.0:
        return 0.0
    sx = wx[b + 1] - wx[a]
    cost = (wxx[b + 1] - wxx[a]) - sx * sx / sw
    return cost if cost > 0.0 else 0.0


@numba.njit(cache=True)
def _optimal_splits(w, wx, wxx, k):  # pragma: no cover - compiled
    """Split points of the k-segment partition of H bins with the least weighted SSE.

    `w`, `wx`, `wxx` are prefix sums (length H + 1). Returns the last bin of each segment.
    """
    H = w.shape[0] - 1
    prev = np.empty(H)
    cur = np.empty(H)
    for j in range(H):
        prev[j] = _range_cost(w, wx, wxx, 0, j)
    split = np.zeros((k, H), dtype=np.int32)
    split[0, :] = -1
    stack = np.empty((4 * 64, 4), dtype=np.int64)
    for m in range(1, k):
        # cur[j] = min over s in [m-1, j-1] of prev[s] + cost(s+1, j); opt(j) is monotone in j,
        # so solve the middle j and recurse into both halves with the narrowed s-range.
        for j in range(m):
            cur[j] = np.inf
        top = 0
        stack[0, 0] = m
        stack[0, 1] = H - 1
        stack[0, 2] = m - 1
        stack[0, 3] = H - 2
        top = 1
        while top > 0:
            top -= 1
            jlo = stack[top, 0]
            jhi = stack[top, 1]
            slo = stack[top, 2]
            shi = stack[top, 3]
            if jlo > jhi:
                continue
            j = (jlo + jhi) // 2
            best = np.inf
            best_s = slo
            s_end = min(shi, j - 1)
            for s in range(slo, s_end + 1):
                c = prev[s] + _range_cost(w, wx, wxx, s + 1, j)
                if c < best:
                    best = c
                    best_s = s
            cur[j] = best
            split[m, j] = best_s
            stack[top, 0] = jlo
            stack[top, 1] = j - 1
            stack[top, 2] = slo
            stack[top, 3] = best_s
            top += 1
            stack[top, 0] = j + 1
            stack[top, 1] = jhi
            stack[top, 2] = best_s
            stack[top, 3] = shi
            top += 1
        for j in range(H):
            prev[j] = cur[j]
    # backtrack: the segment ends
    ends = np.empty(k, dtype=np.int64)
    j = H - 1
    for m in range(k - 1, -1, -1):
        ends[m] = j
        j = split[m, j]
    return ends


def _histogram(
    sorted_values: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Non-empty bins over the sorted values: weights, weighted sums and sums of squares.

    Edges are the union of quantile edges (resolution where the data is dense) and uniform
    edges (resolution in the sparse tails).
    """
    n = sorted_values.shape[0]
    lo, hi = sorted_values[0], sorted_values[-1]
    quantile_idx = np.linspace(0, n, _BINS + 1).astype(np.int64)[1:-1]
    uniform_edges = np.linspace(lo, hi, _BINS + 1)[1:-1]
    uniform_idx = np.searchsorted(sorted_values, uniform_edges, side="left")
    starts = np.unique(np.concatenate(([0], quantile_idx, uniform_idx)))
    starts = starts[starts < n]
    wx = weights * sorted_values
    return (
        np.add.reduceat(weights, starts),
        np.add.reduceat(wx, starts),
        np.add.reduceat(wx * sorted_values, starts),
    )


def _lloyd(sorted_values: np.ndarray, weights: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Lloyd iterations on the exact values; each cell's new centre is its weighted mean."""
    prefix_w = np.concatenate(([0.0], np.cumsum(weights)))
    prefix_wx = np.concatenate(([0.0], np.cumsum(weights * sorted_values)))
    n = sorted_values.shape[0]
    for _ in range(_LLOYD_ITERATIONS):
        mid = (centroids[1:] + centroids[:-1]) / 2
        bounds = np.concatenate(([0], np.searchsorted(sorted_values, mid, side="right"), [n]))
        w = prefix_w[bounds[1:]] - prefix_w[bounds[:-1]]
        wx = prefix_wx[bounds[1:]] - prefix_wx[bounds[:-1]]
        updated = np.sort(np.where(w > 0, wx / np.where(w > 0, w, 1.0), centroids))
        if np.array_equal(updated, centroids):
            break
        centroids = updated
    return centroids


def fit_codebook(
    data: np.ndarray, weights: np.ndarray | None = None, size: int = CODEBOOK_SIZE
) -> Codebook:
    """The `size`-entry codebook minimising the (weighted) squared error over `data`.

    Non-finite values are ignored; `weights` (same shape as `data`, or broadcastable) count
    how many times each value stands for the original data (a palette entry's member count).
    """
    values = np.asarray(data, dtype=np.float64)
    w = np.broadcast_to(
        np.ones(1) if weights is None else np.asarray(weights, np.float64), values.shape
    ).ravel()
    values = values.ravel()
    keep = np.isfinite(values) & (w > 0)
    values, w = values[keep], w[keep]
    if values.size == 0:
        return Codebook(np.zeros(size, np.float32))
    order = np.argsort(values, kind="stable")
    values, w = values[order], w[order]
    new_value = np.concatenate(([True], values[1:] > values[:-1]))
    if np.count_nonzero(new_value) <= size:  # every distinct value gets its own entry: exact
        distinct = values[new_value]
        padded = np.concatenate((distinct, np.full(size - distinct.size, distinct[-1])))
        return Codebook(padded.astype(np.float32))
    # centre the data so the prefix sums of squares keep their precision
    shift = float(np.average(values, weights=w))
    centred = values - shift
    bin_w, bin_wx, bin_wxx = _histogram(centred, w)
    k = min(size, bin_w.size)
    ends = _optimal_splits(
        np.concatenate(([0.0], np.cumsum(bin_w))),
        np.concatenate(([0.0], np.cumsum(bin_wx))),
        np.concatenate(([0.0], np.cumsum(bin_wxx))),
        k,
    )
    starts = np.concatenate(([0], ends[:-1] + 1))
    centroids = np.add.reduceat(bin_wx, starts) / np.add.reduceat(bin_w, starts)
    centroids = _lloyd(centred, w, np.sort(centroids))
    result = (centroids + shift).astype(np.float32)
    if result.size < size:
        result = np.concatenate((result, np.full(size - result.size, result[-1], np.float32)))
    return Codebook(np.sort(result))
