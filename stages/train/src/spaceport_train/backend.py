"""One rasterizer interface, two backends: gsplat's CUDA kernels or the CPU kernels.

Both are called with gsplat's `rasterization` arguments and return its `(colors, alphas,
info)`, unpacked layout, so `gsplat.strategy.DefaultStrategy` drives either. gsplat's CUDA
extension is only touched when `torch.cuda.is_available()`: on a machine with nvcc but no GPU,
touching it would start a JIT build.
"""

from __future__ import annotations

import os
from typing import Any

import numba
import torch
from torch import Tensor

from spaceport_shared.errors import SpaceportError
from spaceport_train.cpu_rasterizer import rasterization_cpu


def resolve_backend(name: str) -> str:
    """'auto' -> 'cuda' when a CUDA GPU is visible, else 'cpu'; 'cuda' without one fails."""
    cuda = torch.cuda.is_available()
    if name == "auto":
        return "cuda" if cuda else "cpu"
    if name == "cuda" and not cuda:
        raise SpaceportError(
            "Setting backend=cuda needs a CUDA GPU but none is visible; use backend=auto or cpu."
        )
    if name not in ("cuda", "cpu"):
        raise SpaceportError(f"Unknown rasterizer backend '{name}'; use auto, cuda or cpu.")
    return name


def configure_cpu_threads() -> None:
    """One PyTorch thread until the first numba kernel runs.

    PyTorch's tensors here are small (per-Gaussian, one image), where its threads gain little.
    numba's OpenMP layer shares PyTorch's libgomp and sets that runtime's thread count to its
    own on every kernel, so from the first kernel on PyTorch's ops run on every core too; the
    measured steps/s (`make bench`) are with that, the threads spinning only briefly (see
    `configure_numba_threads`). Without OpenMP (the workqueue fallback) this one thread stays.
    """
    torch.set_num_threads(1)


def configure_numba_threads() -> None:
    """Numba's OpenMP threading layer (workqueue where no OpenMP runtime loads), unless
    NUMBA_THREADING_LAYER says otherwise.

    OpenMP hands a kernel to its waiting threads in microseconds where the workqueue layer
    takes about 120 us per parallel loop (an empty `prange`: 1.4 against 119.5 us): on 2 idle
    cores, training steps at 320x240 with 50k Gaussians ran at 15.2 against 11.4 per second
    (median of 4 alternating runs). The runtime is the libgomp PyTorch loads; its threads spin
    only briefly (`GOMP_SPINCOUNT`, see `spaceport_train/__init__.py`), so on a busy CPU they
    do not take the cores that other work needs. The program's entry (the console script, a
    benchmark) calls this before the first parallel kernel, which fixes the layer.
    """
    if "NUMBA_THREADING_LAYER" not in os.environ:
        numba.config.THREADING_LAYER = "default"  # the first of this order that loads
        numba.config.THREADING_LAYER_PRIORITY = ["omp", "workqueue", "tbb"]


def rasterize(backend: str, **kwargs: Any) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """`gsplat.rasterization(**kwargs)` on the chosen backend ('cuda' or 'cpu')."""
    if backend == "cuda":
        if not torch.cuda.is_available():
            raise SpaceportError("The CUDA backend was chosen but no CUDA GPU is visible.")
        from gsplat import rasterization

        return rasterization(**kwargs)
    return rasterization_cpu(**kwargs)
