"""SSIM (Wang et al. 2004) in PyTorch: 11x11 Gaussian window, sigma 1.5, 'valid' borders.

gsplat's trainer uses the `fused_ssim` CUDA package for this loss term. PyTorch's depthwise
convolutions (and their backward) are slow on a CPU, so the separable Gaussian blur of all five
maps (a, b, a², b², ab) is done another way: on a CPU a numba kernel, and its backward (the
transposed blur, the same window) another, 11 multiply-adds per pixel and pass in loops the
compiler vectorises, over every core; elsewhere (a GPU) two matrix products with banded
matrices, a GEMM each way (on a CPU those spend 60 multiply-adds per useful one at 640 px).
"""

from __future__ import annotations

import functools

import numba as nb
import numpy as np
import torch
from torch import Tensor

_C1 = 0.01**2
_C2 = 0.03**2


@functools.lru_cache(maxsize=16)
def _band(n: int, size: int, sigma: float, dtype: torch.dtype, device: str) -> Tensor:
    """[n, n - size + 1]: column j holds the normalised window at rows j .. j + size - 1."""
    w = torch.from_numpy(_window(size, sigma, np.dtype(np.float64)))
    out = n - size + 1
    band = torch.zeros(n, out, dtype=torch.float64)
    for k in range(size):
        band[torch.arange(out) + k, torch.arange(out)] = w[k]
    return band.to(dtype=dtype, device=device)


@functools.lru_cache(maxsize=16)
def _window(size: int, sigma: float, dtype: np.dtype) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    w = np.exp(-(x**2) / (2 * sigma**2))
    return (w / w.sum()).astype(dtype)


@nb.njit(parallel=True, fastmath=True, cache=True)
def _blur(x: np.ndarray, w: np.ndarray, out: np.ndarray) -> None:
    """out [M, H - K + 1, W - K + 1] = x [M, H, W] blurred by w [K] along both axes ('valid')."""
    m, width = x.shape[0], x.shape[2]
    k = w.shape[0]
    ho, wo = out.shape[1], out.shape[2]
    for task in nb.prange(m * ho):
        i = task // ho
        r = task % ho
        column = np.zeros(width, x.dtype)  # the vertical pass of this output row
        for t in range(k):
            for c in range(width):
                column[c] += w[t] * x[i, r + t, c]
        for c in range(wo):
            out[i, r, c] = 0
        for t in range(k):
            for c in range(wo):
                out[i, r, c] += w[t] * column[c + t]


@nb.njit(parallel=True, fastmath=True, cache=True)
def _blur_transposed(g: np.ndarray, w: np.ndarray, out: np.ndarray) -> None:
    """The adjoint of `_blur`: out [M, H, W] from g [M, H - K + 1, W - K + 1] ('full')."""
    m, ho, wo = g.shape
    k = w.shape[0]
    h, width = out.shape[1], out.shape[2]
    rows = np.empty((m, ho, width), g.dtype)  # the horizontal pass, per input row of g
    for task in nb.prange(m * ho):
        i = task // ho
        r = task % ho
        for c in range(width):
            rows[i, r, c] = 0
        for t in range(k):
            for c in range(wo):
                rows[i, r, c + t] += w[t] * g[i, r, c]
    for task in nb.prange(m * h):
        i = task // h
        y = task % h
        for c in range(width):
            out[i, y, c] = 0
        for t in range(max(0, y - ho + 1), min(k, y + 1)):
            for c in range(width):
                out[i, y, c] += w[t] * rows[i, y - t, c]


class _Blur(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, size: int, sigma: float) -> Tensor:  # [M, H, W] -> [M, H', W']
        arr = np.ascontiguousarray(x.detach().numpy())
        w = _window(size, sigma, arr.dtype)
        out = np.empty((arr.shape[0], arr.shape[1] - size + 1, arr.shape[2] - size + 1), arr.dtype)
        _blur(arr, w, out)
        ctx.window = w
        ctx.shape = arr.shape
        return torch.from_numpy(out)

    @staticmethod
    def backward(ctx, grad: Tensor):
        out = np.empty(ctx.shape, ctx.window.dtype)
        _blur_transposed(np.ascontiguousarray(grad.numpy()), ctx.window, out)
        return torch.from_numpy(out), None, None


def blur_numba(maps: Tensor, size: int, sigma: float) -> Tensor:  # [..., H, W] -> [..., H', W']
    h, w = maps.shape[-2:]
    blurred = _Blur.apply(maps.reshape(-1, h, w), size, sigma)
    return blurred.reshape(*maps.shape[:-2], *blurred.shape[-2:])


def blur_gemm(maps: Tensor, size: int, sigma: float) -> Tensor:  # [..., H, W] -> [..., H', W']
    h, w = maps.shape[-2:]
    band_w = _band(w, size, sigma, maps.dtype, str(maps.device))
    band_h = _band(h, size, sigma, maps.dtype, str(maps.device))
    return band_h.T @ (maps @ band_w)


def ssim(a: Tensor, b: Tensor, window_size: int = 11, sigma: float = 1.5) -> Tensor:
    """Mean SSIM of images [B, C, H, W] with values in [0, 1]."""
    h, w = a.shape[-2:]
    if min(h, w) < window_size:
        raise ValueError(f"SSIM needs images of at least {window_size} px, not {w}x{h}")
    maps = torch.stack([a, b, a * a, b * b, a * b])  # [5, B, C, H, W]
    blur = blur_numba if a.device.type == "cpu" else blur_gemm
    mu_a, mu_b, aa, bb, ab = blur(maps, window_size, sigma).unbind(0)
    var_a = aa - mu_a**2
    var_b = bb - mu_b**2
    cov = ab - mu_a * mu_b
    num = (2 * mu_a * mu_b + _C1) * (2 * cov + _C2)
    den = (mu_a**2 + mu_b**2 + _C1) * (var_a + var_b + _C2)
    return (num / den).mean()
