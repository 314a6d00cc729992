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
    """One PyTorch thread on the CPU backend; the numba kernels use every core themselves.

    PyTorch's tensors here are small (per-Gaussian, one image), where its OpenMP threads cost
    more in synchronisation than they gain, and their spinning competes with the kernels.
    """
    torch.set_num_threads(1)


def configure_numba_threads() -> None:
    """Numba's `workqueue` threading layer, unless NUMBA_THREADING_LAYER says otherwise.

    Numba's OpenMP layer keeps its threads spinning after each kernel; on a small or shared CPU
    they steal the core that PyTorch's autograd needs next (measured: 10x slower training
    steps). The workqueue layer's threads sleep instead. The program's entry (the console
    script, a benchmark) calls this before the first parallel kernel, which fixes the layer.
    """
    if "NUMBA_THREADING_LAYER" not in os.environ:
        numba.config.THREADING_LAYER = "workqueue"


def rasterize(backend: str, **kwargs: Any) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """`gsplat.rasterization(**kwargs)` on the chosen backend ('cuda' or 'cpu')."""
    if backend == "cuda":
        if not torch.cuda.is_available():
            raise SpaceportError("The CUDA backend was chosen but no CUDA GPU is visible.")
        from gsplat import rasterization

        return rasterization(**kwargs)
    return rasterization_cpu(**kwargs)
