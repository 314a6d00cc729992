"""The Gaussian cap on a GPU, from the device's memory.

A Gaussian in training holds its 59 parameters (means, quats, scales, opacity, degree-3 SH), their
gradients and Adam's two moments (4 x 236 B), the densification statistics, the projection's
per-step buffers and its share of the tile-intersection lists (a few tens of tiles each at
1600 px, 12 B a tile, forward and backward): about 2.5 KB in all, rounded up from gsplat's
figures (1M Gaussians in ~2-3 GB). The image's render buffers and the loss (~100 floats a pixel)
come off first, and a third of the memory stays free for the allocator's fragmentation and
CUDA's own context. The cap uses the device's total memory, not its free memory, so that a
resumed job plans the same cap on the same device class.
"""

from __future__ import annotations

import torch

BYTES_PER_GAUSSIAN = 2500
BYTES_PER_PIXEL = 400
USABLE_SHARE = 2 / 3
MAX_CAP = 6_000_000  # beyond this a single-GPU scene at 1600 px gains little


def device_memory_bytes(backend: str) -> int | None:
    """Total memory of the training device; None on the CPU (RAM bounds nothing there)."""
    if backend != "cuda" or not torch.cuda.is_available():
        return None
    _, total = torch.cuda.mem_get_info()
    return int(total)


def gaussian_cap(memory_bytes: int, pixels: int) -> int:
    """The most Gaussians that fit in `memory_bytes` when training on `pixels`-pixel images."""
    usable = USABLE_SHARE * memory_bytes - BYTES_PER_PIXEL * pixels
    return int(max(0, min(MAX_CAP, usable // BYTES_PER_GAUSSIAN)))
