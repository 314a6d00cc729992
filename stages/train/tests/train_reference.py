"""A dense, pure-PyTorch rasterizer: the ground truth the CPU backend is tested against
(a test and benchmark fixture, not in the wheel).

Every Gaussian is evaluated at every pixel and autograd does the backward, so it is slow
(seconds for 5k Gaussians at 160x120) but short enough to check by reading. It keeps gsplat's
compositing rules: alpha = min(0.999, opacity * exp(-sigma)), skip alpha < 1/255 or sigma < 0,
front to back by depth, a pixel stops (exclusively) once its transmittance would fall to 1e-4.
Projection and colours are shared with the CPU backend (`projection`, gsplat's SH), so a
difference between the two can only come from binning, compositing or the backward.
"""

from __future__ import annotations

import torch
from torch import Tensor

from spaceport_train.cpu_kernels import ALPHA_MAX, ALPHA_MIN, T_MIN
from spaceport_train.gsplat_torch import spherical_harmonics
from spaceport_train.projection import project_gaussians


def composite_dense(
    means2d: Tensor,  # [M, 2] sorted near to far
    conics: Tensor,  # [M, 3]
    colors: Tensor,  # [M, 3]
    opacities: Tensor,  # [M]
    background: Tensor,  # [3]
    width: int,
    height: int,
) -> tuple[Tensor, Tensor]:
    """Colour [H, W, 3] and alpha [H, W, 1] of depth-sorted 2D Gaussians."""
    dtype = means2d.dtype
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=dtype) + 0.5,
        torch.arange(width, dtype=dtype) + 0.5,
        indexing="ij",
    )
    pix = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=-1)  # [P, 2]
    delta = means2d[None, :, :] - pix[:, None, :]  # [P, M, 2]
    dx, dy = delta[..., 0], delta[..., 1]
    sigma = 0.5 * (conics[:, 0] * dx * dx + conics[:, 2] * dy * dy) + conics[:, 1] * dx * dy
    alpha = torch.clamp_max(opacities * torch.exp(-sigma), ALPHA_MAX)  # [P, M]
    valid = (sigma >= 0) & (alpha >= ALPHA_MIN)
    alpha = torch.where(valid, alpha, torch.zeros_like(alpha))
    with torch.no_grad():
        t_before = torch.cumprod(
            torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha[:, :-1]], 1), 1
        )
        stops = valid & (t_before * (1 - alpha) <= T_MIN)
        included = torch.cumsum(stops.to(torch.int32), dim=1) == 0
    alpha = torch.where(included, alpha, torch.zeros_like(alpha))
    one_minus = 1 - alpha
    trans = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), one_minus], dim=1), dim=1)
    weights = alpha * trans[:, :-1]  # [P, M]
    t_final = trans[:, -1:]  # [P, 1]
    color = weights @ colors + t_final * background[None, :]
    return color.reshape(height, width, 3), (1 - t_final).reshape(height, width, 1)


def rasterization_reference(
    means: Tensor,  # [N, 3]
    quats: Tensor,  # [N, 4]
    scales: Tensor,  # [N, 3] linear
    opacities: Tensor,  # [N]
    colors: Tensor,  # [N, K, 3] SH (sh_degree set) or [N, 3] RGB
    viewmats: Tensor,  # [C, 4, 4]
    Ks: Tensor,  # [C, 3, 3]
    width: int,
    height: int,
    *,
    sh_degree: int | None = None,
    backgrounds: Tensor | None = None,  # [C, 3]
    eps2d: float = 0.3,
    near_plane: float = 0.01,
) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    """Same call shape as `rasterization_cpu`; info holds `means2d` and `radii`."""
    n_cams = viewmats.shape[0]
    proj = project_gaussians(
        means, quats, scales, opacities, viewmats, Ks, width, height,
        eps2d=eps2d, near_plane=near_plane,
    )  # fmt: skip
    if sh_degree is None:
        rgb = colors.expand(n_cams, *colors.shape)
    else:
        campos = torch.inverse(viewmats)[:, :3, 3]
        dirs = means[None] - campos[:, None]
        rgb = spherical_harmonics(sh_degree, dirs, colors.expand(n_cams, *colors.shape))
        rgb = torch.clamp_min(rgb + 0.5, 0.0)
    images, alphas = [], []
    for c in range(n_cams):
        visible = (proj.radii[c] > 0).all(dim=-1)
        ids = torch.nonzero(visible)[:, 0]
        ids = ids[torch.argsort(proj.depths[c, ids].detach(), stable=True)]
        bg = torch.zeros(3, dtype=means.dtype) if backgrounds is None else backgrounds[c]
        image, alpha = composite_dense(
            proj.means2d[c, ids],
            proj.conics[c, ids],
            rgb[c, ids],
            proj.opacities[c, ids],
            bg,
            width,
            height,
        )
        images.append(image)
        alphas.append(alpha)
    info = {"means2d": proj.means2d, "radii": proj.radii, "width": width, "height": height}
    return torch.stack(images), torch.stack(alphas), info
