"""SSIM (Wang et al. 2004) in PyTorch: 11x11 Gaussian window, sigma 1.5, 'valid' borders.

gsplat's trainer uses the `fused_ssim` CUDA package for this loss term. On a CPU, PyTorch's
depthwise convolutions (and their backward) are slow, so the separable Gaussian blur is two
matrix products with banded matrices instead: the same numbers, a GEMM each way, and
all five blurred maps (a, b, a², b², ab) in one batch.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

_C1 = 0.01**2
_C2 = 0.03**2


@functools.lru_cache(maxsize=16)
def _band(n: int, size: int, sigma: float, dtype: torch.dtype, device: str) -> Tensor:
    """[n, n - size + 1]: column j holds the normalised window at rows j .. j + size - 1."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    w = torch.exp(-(x**2) / (2 * sigma**2))
    w = w / w.sum()
    out = n - size + 1
    band = torch.zeros(n, out, dtype=torch.float64)
    for k in range(size):
        band[torch.arange(out) + k, torch.arange(out)] = w[k]
    return band.to(dtype=dtype, device=device)


def ssim(a: Tensor, b: Tensor, window_size: int = 11, sigma: float = 1.5) -> Tensor:
    """Mean SSIM of images [B, C, H, W] with values in [0, 1]."""
    h, w = a.shape[-2:]
    if min(h, w) < window_size:
        raise ValueError(f"SSIM needs images of at least {window_size} px, not {w}x{h}")
    band_w = _band(w, window_size, sigma, a.dtype, str(a.device))
    band_h = _band(h, window_size, sigma, a.dtype, str(a.device))
    maps = torch.stack([a, b, a * a, b * b, a * b])  # [5, B, C, H, W]
    blurred = band_h.T @ (maps @ band_w)  # [5, B, C, H', W']
    mu_a, mu_b, aa, bb, ab = blurred.unbind(0)
    var_a = aa - mu_a**2
    var_b = bb - mu_b**2
    cov = ab - mu_a * mu_b
    num = (2 * mu_a * mu_b + _C1) * (2 * cov + _C2)
    den = (mu_a**2 + mu_b**2 + _C1) * (var_a + var_b + _C2)
    return (num / den).mean()
