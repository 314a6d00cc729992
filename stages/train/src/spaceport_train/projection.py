"""EWA projection of 3D Gaussians to the image plane: gsplat's maths on the CPU, differentiable.

`project_gaussians` returns what gsplat's `fully_fused_projection` does (means2d, depths,
conics, radii, plus the opacities after the antialiasing compensation) with gradients for the
means, quaternions, scales and opacities; the radii follow gsplat's CUDA kernel (opacity-aware
box, zero for Gaussians fainter than 1/255 or off-image), so `info["radii"]` means the same for
both backends and the densification strategy sees the same visibility. The work is the numba
kernels of `projection_kernels`, forward and hand-written backward, over every core; camera
poses and intrinsics are inputs only (no gradient).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from spaceport_train.cpu_kernels import ALPHA_MIN
from spaceport_train.projection_kernels import project_backward, project_forward


class Projection(NamedTuple):
    radii: Tensor  # [C, N, 2] int32 pixels, 0 where not visible
    means2d: Tensor  # [C, N, 2] pixels
    depths: Tensor  # [C, N] camera z
    conics: Tensor  # [C, N, 3] inverse 2D covariance (a, b, c)
    opacities: Tensor  # [C, N] after the antialiasing compensation, if any


def _array(t: Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().numpy())


class _ProjectCPU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, means, quats, scales, opacities, viewmats, Ks, width, height, options):
        eps2d, near_plane, far_plane, radius_clip, antialiased = options
        n, n_cams = means.shape[0], viewmats.shape[0]
        arrays = [_array(t) for t in (means, quats, scales, opacities, viewmats, Ks)]
        means2d = torch.empty((n_cams, n, 2), dtype=means.dtype)
        conics = torch.empty((n_cams, n, 3), dtype=means.dtype)
        opac = torch.empty((n_cams, n), dtype=means.dtype)
        depths = torch.empty((n_cams, n), dtype=means.dtype)
        radii = torch.empty((n_cams, n, 2), dtype=torch.int32)
        project_forward(
            *arrays, width, height, eps2d, near_plane, far_plane, radius_clip, antialiased,
            ALPHA_MIN, means2d.numpy(), conics.numpy(), opac.numpy(), depths.numpy(),
            radii.numpy(),
        )  # fmt: skip
        ctx.arrays = arrays
        ctx.geometry = (width, height, eps2d, antialiased)
        ctx.mark_non_differentiable(depths, radii)
        return radii, means2d, depths, conics, opac

    @staticmethod
    def backward(ctx, _v_radii, v_means2d, _v_depths, v_conics, v_opac):
        means = ctx.arrays[0]
        dtype = torch.from_numpy(means[:0]).dtype
        grads = [torch.empty(a.shape, dtype=dtype) for a in ctx.arrays[:4]]

        def grad_array(g: Tensor | None, shape: tuple[int, ...]) -> np.ndarray:
            return np.zeros(shape, means.dtype) if g is None else _array(g.to(dtype))

        n_cams, n = ctx.arrays[4].shape[0], means.shape[0]
        project_backward(
            *ctx.arrays, *ctx.geometry,
            grad_array(v_means2d, (n_cams, n, 2)), grad_array(v_conics, (n_cams, n, 3)),
            grad_array(v_opac, (n_cams, n)), *(g.numpy() for g in grads),
        )  # fmt: skip
        return (*grads, None, None, None, None, None)


def project_gaussians(
    means: Tensor,  # [N, 3] world
    quats: Tensor,  # [N, 4] (w, x, y, z), unnormalised
    scales: Tensor,  # [N, 3] linear (not log)
    opacities: Tensor,  # [N] in [0, 1]
    viewmats: Tensor,  # [C, 4, 4] cam_from_world
    Ks: Tensor,  # [C, 3, 3]
    width: int,
    height: int,
    *,
    eps2d: float = 0.3,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    radius_clip: float = 0.0,
    antialiased: bool = False,
) -> Projection:
    options = (float(eps2d), float(near_plane), float(far_plane), float(radius_clip), antialiased)
    return Projection(
        *_ProjectCPU.apply(means, quats, scales, opacities, viewmats, Ks, width, height, options)
    )
