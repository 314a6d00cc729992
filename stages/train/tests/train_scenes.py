"""Splat scenes for tests and benchmarks (a fixture module: not in the wheel).

`benchmark_scene` is the rasterizer benchmark's scene, shared by `bench/` and the tests;
`tiny_scene` the small random scenes of the gradient tests. The name is unique across the
repository because pytest's importlib mode puts every package's tests folder on one path.

Gaussians spread over depths 2-10 in front of a pinhole camera (fx = fy = 300, identity pose)
so they cover the whole image, each 2-8 px in radius (3 sigma) on screen: with 50k Gaussians at
320x240 that is about 60-70 Gaussians overlapping each pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

FOCAL_PX = 300.0


@dataclass
class BenchmarkScene:
    means: Tensor  # [N, 3]
    quats: Tensor  # [N, 4]
    scales: Tensor  # [N, 3] linear
    opacities: Tensor  # [N]
    colors: Tensor  # [N, 3]
    viewmats: Tensor  # [1, 4, 4]
    Ks: Tensor  # [1, 3, 3]
    width: int
    height: int

    def leaves(self) -> list[Tensor]:
        """Fresh differentiable copies of the Gaussian parameters."""
        return [
            t.detach().clone().requires_grad_(True)
            for t in (self.means, self.quats, self.scales, self.opacities, self.colors)
        ]


def benchmark_scene(
    n: int, width: int, height: int, *, seed: int = 0, dtype: torch.dtype = torch.float32
) -> BenchmarkScene:
    gen = torch.Generator().manual_seed(seed)

    def uniform(*shape: int, low: float = 0.0, high: float = 1.0) -> Tensor:
        return torch.rand(*shape, generator=gen, dtype=torch.float64) * (high - low) + low

    depth = uniform(n, low=2.0, high=10.0)
    u = uniform(n, low=0.0, high=width)
    v = uniform(n, low=0.0, high=height)
    cx, cy = width / 2.0, height / 2.0
    means = torch.stack([(u - cx) * depth / FOCAL_PX, (v - cy) * depth / FOCAL_PX, depth], -1)
    radius_px = uniform(n, low=2.0, high=8.0)
    sigma_world = radius_px / 3.0 * depth / FOCAL_PX
    anisotropy = uniform(n, 3, low=0.7, high=1.3)
    scales = sigma_world[:, None] * anisotropy
    quats = torch.randn(n, 4, generator=gen, dtype=torch.float64)
    opacities = uniform(n, low=0.2, high=0.9)
    colors = uniform(n, 3)
    K = torch.tensor([[FOCAL_PX, 0.0, cx], [0.0, FOCAL_PX, cy], [0.0, 0.0, 1.0]])
    return BenchmarkScene(
        means=means.to(dtype),
        quats=quats.to(dtype),
        scales=scales.to(dtype),
        opacities=opacities.to(dtype),
        colors=colors.to(dtype),
        viewmats=torch.eye(4, dtype=dtype)[None],
        Ks=K[None].to(dtype),
        width=width,
        height=height,
    )


def tiny_scene(n: int, width: int, height: int, dtype: torch.dtype, seed: int, opaque: bool):
    """Random Gaussians in front of an identity camera; `opaque` stacks many dense layers so
    pixels stop early (transmittance 1e-4) and alpha hits its 0.999 clamp."""
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.rand(*shape, generator=gen, dtype=torch.float64)

    means = torch.stack([rand(n) * 4 - 2, rand(n) * 3 - 1.5, rand(n) * 4 + 3], -1)
    quats = torch.randn(n, 4, generator=gen, dtype=torch.float64)
    scales = rand(n, 3) * 0.15 + 0.03
    if opaque:
        scales = scales * 4
        opacities = (rand(n) * 0.2 + 0.9).clamp(max=1.0)  # some at 1: alpha hits its clamp
    else:
        opacities = rand(n) * 0.9 + 0.05
    colors = rand(n, 3)
    viewmats = torch.eye(4, dtype=torch.float64)[None]
    Ks = torch.tensor([[[40.0, 0, width / 2], [0, 40.0, height / 2], [0, 0, 1]]])
    return [t.to(dtype) for t in (means, quats, scales, opacities, colors, viewmats, Ks)]
