"""A dense, pure-PyTorch rasterizer: the ground truth the CPU backend is tested against
(a test and benchmark fixture, not in the wheel).

Every Gaussian is evaluated at every pixel and autograd does the backward, so it is slow
(seconds for 5k Gaussians at 160x120) but short enough to check by reading. It keeps gsplat's
compositing rules: alpha = min(0.999, opacity * exp(-sigma)), skip alpha < 1/255 or sigma < 0,
front to back by depth, a pixel stops (exclusively) once its transmittance would fall to 1e-4.
Projection is the same formulas as PyTorch (`project_gaussians_torch`, gsplat's maths written
as GEMMs; autograd differentiates it) and colours are gsplat's SH, so the CPU backend's numba
projection, binning, compositing and hand-written backwards are all checked against autograd.
"""

from __future__ import annotations

import torch
from torch import Tensor

from spaceport_train.cpu_kernels import ALPHA_MAX, ALPHA_MIN, T_MIN
from spaceport_train.gsplat_torch import quat_to_rotmat, spherical_harmonics
from spaceport_train.projection import Projection


def project_gaussians_torch(
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
    """The projection as differentiable PyTorch (autograd does the backward): the reference
    for the numba kernels of `projection_kernels`, independent of their hand-written backward."""
    n = means.shape[0]
    n_cams = viewmats.shape[0]
    rot_c = viewmats[:, :3, :3]  # [C, 3, 3]
    means_c = torch.matmul(means, rot_c.transpose(1, 2)) + viewmats[:, None, :3, 3]  # [C, N, 3]
    # M = R_cam R_gauss S, so that the camera-frame covariance is M M^T. One GEMM for all.
    rot_g = quat_to_rotmat(quats)  # [N, 3, 3]
    rot = torch.matmul(rot_c, rot_g.permute(1, 0, 2).reshape(3, n * 3))  # [C, 3, N*3]
    m = rot.reshape(n_cams, 3, n, 3).permute(0, 2, 1, 3) * scales[None, :, None, :]
    tx, ty, tz = means_c.unbind(-1)  # [C, N]
    fx, fy = Ks[:, 0, 0, None], Ks[:, 1, 1, None]  # [C, 1]
    cx, cy = Ks[:, 0, 2, None], Ks[:, 1, 2, None]
    # gsplat's _persp_proj: the Jacobian is taken at a point clamped to 1.3x the field of view.
    lim_x_pos = (width - cx) / fx + 0.3 * (0.5 * width / fx)
    lim_x_neg = cx / fx + 0.3 * (0.5 * width / fx)
    lim_y_pos = (height - cy) / fy + 0.3 * (0.5 * height / fy)
    lim_y_neg = cy / fy + 0.3 * (0.5 * height / fy)
    jx = tz * torch.clamp(tx / tz, min=-lim_x_neg, max=lim_x_pos)
    jy = tz * torch.clamp(ty / tz, min=-lim_y_neg, max=lim_y_pos)
    inv_z = 1.0 / tz
    row_x = (fx * inv_z)[..., None] * m[..., 0, :] - (fx * jx * inv_z * inv_z)[..., None] * m[
        ..., 2, :
    ]  # [C, N, 3]: first row of J M
    row_y = (fy * inv_z)[..., None] * m[..., 1, :] - (fy * jy * inv_z * inv_z)[..., None] * m[
        ..., 2, :
    ]
    cxx = (row_x * row_x).sum(-1)
    cyy = (row_y * row_y).sum(-1)
    cxy = (row_x * row_y).sum(-1)
    means2d = torch.stack(
        [
            (Ks[:, 0, 0, None] * tx + Ks[:, 0, 1, None] * ty) * inv_z + cx,
            (Ks[:, 1, 0, None] * tx + Ks[:, 1, 1, None] * ty) * inv_z + cy,
        ],
        dim=-1,
    )  # [C, N, 2]
    det_orig = cxx * cyy - cxy * cxy
    cxx = cxx + eps2d
    cyy = cyy + eps2d
    det_blurred = cxx * cyy - cxy * cxy
    det = det_blurred.clamp(min=1e-10)
    conics = torch.stack([cyy / det, -cxy / det, cxx / det], dim=-1)
    depths = means_c[..., 2]
    opac = opacities.expand_as(depths)
    if antialiased:
        opac = opac * torch.sqrt(torch.clamp(det_orig / det, min=0.0))

    with torch.no_grad():
        # gsplat's opacity-aware extent (arXiv:2402.00525, B.2), at most 3.33 sigma.
        extend = torch.sqrt(2.0 * torch.log(opac.clamp(min=ALPHA_MIN) / ALPHA_MIN))
        extend = extend.clamp(max=3.33)
        radius = torch.stack(
            [torch.ceil(extend * torch.sqrt(cxx)), torch.ceil(extend * torch.sqrt(cyy))], dim=-1
        )
        valid = (
            (det_blurred > 0)
            & (depths > near_plane)
            & (depths < far_plane)
            & (opac >= ALPHA_MIN)
            & ((radius[..., 0] > radius_clip) | (radius[..., 1] > radius_clip))
            & (means2d[..., 0] + radius[..., 0] > 0)
            & (means2d[..., 0] - radius[..., 0] < width)
            & (means2d[..., 1] + radius[..., 1] > 0)
            & (means2d[..., 1] - radius[..., 1] < height)
        )
        radii = torch.where(valid[..., None], radius, torch.zeros_like(radius)).int()
    return Projection(radii, means2d, depths, conics, opac)


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
    proj = project_gaussians_torch(
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
