"""The CPU backend: `gsplat.rasterization`'s inputs and `info` outputs, without CUDA.

Projection is the numba kernels of `projection`, spherical harmonics vectorised PyTorch
(autograd does their backward); the compositing is the numba kernels of `cpu_kernels` behind
one `torch.autograd.Function` with a hand-written backward (see that module for why). The
result dict carries what gsplat's densification strategies read (`means2d` with `.grad` and,
with `absgrad=True`, `.absgrad`; `radii`, `width`, `height`, `n_cameras`, `gaussian_ids`, ...)
in gsplat's unpacked layout (`packed=False`: per camera, per Gaussian), so
`gsplat.strategy.DefaultStrategy` drives this backend exactly as it drives gsplat's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import torch
from torch import Tensor

from spaceport_train import cpu_kernels
from spaceport_train.gsplat_torch import spherical_harmonics
from spaceport_train.projection import project_gaussians

# The kernels' own tiles (width, height in pixels), independent of gsplat's `tile_size`, which
# only shapes `info`. Wide tiles cut each splat's rows into fewer pieces (each piece costs a
# span solve); several tiles per thread keep the two cores balanced.
KERNEL_TILE = (64, 16)
cpu_kernels.check_tile(*KERNEL_TILE)  # a constant: checked once, at import


def _numpy(t: Tensor, dtype: np.dtype) -> np.ndarray:
    return np.ascontiguousarray(t.detach().numpy(), dtype=dtype)


@dataclass
class _Frame:
    """One camera's binning and forward results, kept for its backward."""

    arrays: dict[str, np.ndarray]  # the kernels' inputs (numpy views or copies)
    order: np.ndarray  # [M] visible Gaussians, near to far
    tile_offsets: np.ndarray  # [tiles + 1]
    flat_ids: np.ndarray  # [intersections]
    slot_offsets: np.ndarray  # [M + 1]
    slots: np.ndarray  # [intersections]
    schedule: np.ndarray  # [tiles]
    color: np.ndarray  # [H, W, 3] composited, background included
    trans: np.ndarray  # [H, W] final transmittance
    last: np.ndarray  # [H, W] last contributing intersection


class RasterizeToPixelsCPU(torch.autograd.Function):
    """Composite projected Gaussians into images; C cameras, 3 colour channels."""

    @staticmethod
    def forward(
        ctx,
        means2d: Tensor,  # [C, N, 2]
        conics: Tensor,  # [C, N, 3]
        colors: Tensor,  # [C, N, 3]
        opacities: Tensor,  # [C, N]
        backgrounds: Tensor,  # [C, 3]
        radii: Tensor,  # [C, N, 2] int32 (not differentiable)
        depths: Tensor,  # [C, N] (not differentiable, sort key)
        width: int,
        height: int,
        absgrad: bool,
    ) -> tuple[Tensor, Tensor]:
        dtype = np.dtype(str(means2d.dtype).removeprefix("torch."))
        consts = cpu_kernels.kernel_constants(dtype)
        pix_x = np.arange(width, dtype=dtype) + dtype.type(0.5)
        pix_y = np.arange(height, dtype=dtype) + dtype.type(0.5)
        tile_w, tile_h = KERNEL_TILE
        tiles_x = math.ceil(width / tile_w)
        tiles_y = math.ceil(height / tile_h)
        frames = []
        n_cams = means2d.shape[0]
        n_threads = numba.get_num_threads()
        out_colors = torch.empty((n_cams, height, width, 3), dtype=means2d.dtype)
        out_alphas = torch.empty((n_cams, height, width, 1), dtype=means2d.dtype)
        for c in range(n_cams):
            arrays = {
                "means2d": _numpy(means2d[c], dtype),
                "conics": _numpy(conics[c], dtype),
                "colors": _numpy(colors[c], dtype),
                "opacities": _numpy(opacities[c], dtype),
                "radii": _numpy(radii[c], np.int32),
            }
            order = cpu_kernels.depth_order(arrays["radii"], _numpy(depths[c], dtype))
            tile_offsets, flat_ids, slot_offsets, slots = cpu_kernels.bin_gaussians(
                arrays["means2d"],
                arrays["radii"],
                order,
                tile_w,
                tile_h,
                tiles_x,
                tiles_y,
                n_threads,
            )
            schedule = cpu_kernels.tile_schedule(tile_offsets, n_threads)
            color = np.empty((height, width, 3), dtype=dtype)
            trans = np.empty((height, width), dtype=dtype)
            last = np.empty((height, width), dtype=np.int32)
            cpu_kernels.rasterize_forward(
                arrays["means2d"],
                arrays["conics"],
                arrays["colors"],
                arrays["opacities"],
                arrays["radii"],
                _numpy(backgrounds[c], dtype),
                tile_offsets,
                flat_ids,
                schedule,
                pix_x,
                pix_y,
                tile_w,
                tile_h,
                tiles_x,
                consts,
                color,
                trans,
                last,
            )
            out_colors[c] = torch.from_numpy(color)
            out_alphas[c, ..., 0] = torch.from_numpy(1.0 - trans)
            frames.append(
                _Frame(
                    arrays, order, tile_offsets, flat_ids, slot_offsets, slots, schedule, color,
                    trans, last,
                )
            )  # fmt: skip
        ctx.frames = frames
        ctx.consts = consts
        ctx.pix = (pix_x, pix_y)
        ctx.geometry = (tile_w, tile_h, tiles_x)
        ctx.absgrad = absgrad
        ctx.save_for_backward(means2d)
        return out_colors, out_alphas

    @staticmethod
    def backward(ctx, grad_colors: Tensor, grad_alphas: Tensor):
        (means2d,) = ctx.saved_tensors
        n_cams, n = means2d.shape[:2]
        dtype = ctx.consts.dtype
        tile_w, tile_h, tiles_x = ctx.geometry
        pix_x, pix_y = ctx.pix
        summed = np.empty((n_cams, n, cpu_kernels.GRAD_COLUMNS), dtype=dtype)
        v_backgrounds = torch.empty((n_cams, 3), dtype=means2d.dtype)
        for c, frame in enumerate(ctx.frames):
            grads = np.empty((frame.flat_ids.shape[0], cpu_kernels.GRAD_COLUMNS), dtype=dtype)
            tile_backgrounds = np.empty((frame.schedule.shape[0], 3), dtype=dtype)
            a = frame.arrays
            cpu_kernels.rasterize_backward(
                a["means2d"],
                a["conics"],
                a["colors"],
                a["opacities"],
                a["radii"],
                frame.tile_offsets,
                frame.flat_ids,
                frame.schedule,
                pix_x,
                pix_y,
                tile_w,
                tile_h,
                tiles_x,
                ctx.consts,
                frame.color,
                frame.trans,
                frame.last,
                _numpy(grad_colors[c], dtype),
                _numpy(grad_alphas[c, ..., 0], dtype),
                grads,
                tile_backgrounds,
            )
            cpu_kernels.gather_gaussian_grads(
                frame.order, frame.slot_offsets, frame.slots, grads, summed[c]
            )
            v_backgrounds[c] = torch.from_numpy(tile_backgrounds.sum(axis=0))
        summed_t = torch.from_numpy(summed)
        if ctx.absgrad:
            means2d.absgrad = summed_t[..., 9:11].clone()
        return (
            summed_t[..., 0:2],  # means2d
            summed_t[..., 2:5],  # conics
            summed_t[..., 5:8],  # colors
            summed_t[..., 8],  # opacities
            v_backgrounds if ctx.needs_input_grad[4] else None,
            None,
            None,
            None,
            None,
            None,
        )


_UNSUPPORTED_DEFAULTS = {
    "sparse_grad": False,
    "distributed": False,
    "camera_model": "pinhole",
    "segmented": False,
    "covars": None,
    "with_ut": False,
    "with_eval3d": False,
    "radial_coeffs": None,
    "tangential_coeffs": None,
    "thin_prism_coeffs": None,
    "ftheta_coeffs": None,
    "viewmats_rs": None,
}


def rasterization_cpu(
    means: Tensor,  # [N, 3]
    quats: Tensor,  # [N, 4]
    scales: Tensor,  # [N, 3] linear
    opacities: Tensor,  # [N] in [0, 1]
    colors: Tensor,  # [N, K, 3] SH coefficients (sh_degree set) or [N, 3] / [C, N, 3] RGB
    viewmats: Tensor,  # [C, 4, 4] cam_from_world
    Ks: Tensor,  # [C, 3, 3]
    width: int,
    height: int,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    radius_clip: float = 0.0,
    eps2d: float = 0.3,
    sh_degree: int | None = None,
    packed: bool = False,
    tile_size: int = 16,
    backgrounds: Tensor | None = None,  # [C, 3]
    render_mode: str = "RGB",
    absgrad: bool = False,
    rasterize_mode: str = "classic",
    channel_chunk: int = 32,
    **options: Any,
) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """`gsplat.rasterization` on a CPU: returns `(colors [C,H,W,3], alphas [C,H,W,1], info)`.

    Supports what training uses: pinhole cameras, RGB or SH colours, backgrounds, classic or
    antialiased mode, absgrad, unpacked layout. Anything else raises ValueError rather than
    silently rendering something different from gsplat.
    """
    del channel_chunk  # three channels always fit one pass
    for name, value in options.items():
        if name not in _UNSUPPORTED_DEFAULTS:
            raise TypeError(f"rasterization_cpu() got an unexpected keyword argument {name!r}")
        if value is not _UNSUPPORTED_DEFAULTS[name] and value != _UNSUPPORTED_DEFAULTS[name]:
            raise ValueError(f"the CPU rasterizer does not support {name}={value!r}")
    if packed:
        raise ValueError("the CPU rasterizer produces the unpacked layout only; pass packed=False")
    if render_mode != "RGB":
        raise ValueError(f"the CPU rasterizer renders RGB only, not render_mode={render_mode!r}")
    if rasterize_mode not in ("classic", "antialiased"):
        raise ValueError(f"unknown rasterize_mode {rasterize_mode!r}")
    if means.dim() != 2:
        raise ValueError("the CPU rasterizer takes one set of Gaussians [N, 3], no batch dims")
    n_cams = viewmats.shape[0]

    proj = project_gaussians(
        means,
        quats,
        scales,
        opacities,
        viewmats,
        Ks,
        width,
        height,
        eps2d=eps2d,
        near_plane=near_plane,
        far_plane=far_plane,
        radius_clip=radius_clip,
        antialiased=rasterize_mode == "antialiased",
    )
    if sh_degree is None:
        rgb = colors if colors.dim() == 3 else colors.expand(n_cams, *colors.shape)
    else:
        campos = torch.inverse(viewmats)[:, :3, 3]  # [C, 3]
        dirs = means[None, :, :] - campos[:, None, :]  # [C, N, 3]
        coeffs = colors if colors.dim() == 4 else colors.expand(n_cams, *colors.shape)
        rgb = spherical_harmonics(sh_degree, dirs, coeffs)
        rgb = torch.clamp_min(rgb + 0.5, 0.0)  # as gsplat.rasterization
    if rgb.shape[-1] != 3:
        raise ValueError("the CPU rasterizer composites exactly 3 colour channels")
    if backgrounds is None:
        bg = torch.zeros((n_cams, 3), dtype=means.dtype)
    else:
        bg = backgrounds.expand(n_cams, 3)
    render_colors, render_alphas = RasterizeToPixelsCPU.apply(
        proj.means2d,
        proj.conics,
        rgb.contiguous(),
        proj.opacities.contiguous(),
        bg,
        proj.radii,
        proj.depths,
        width,
        height,
        absgrad,
    )
    info = {
        "batch_ids": None,
        "camera_ids": None,
        "gaussian_ids": None,
        "radii": proj.radii,
        "means2d": proj.means2d,
        "depths": proj.depths,
        "conics": proj.conics,
        "opacities": proj.opacities,
        "tile_width": math.ceil(width / tile_size),
        "tile_height": math.ceil(height / tile_size),
        "width": width,
        "height": height,
        "tile_size": tile_size,
        "n_batches": 1,
        "n_cameras": n_cams,
    }
    return render_colors, render_alphas, info


def compile_kernels() -> None:
    """Compile (and cache on disk) the float32 kernels, so a training job does not spend its
    first minute in numba's compiler: a 32x32 view of a few Gaussians on the optical axis."""
    n = 8
    z = torch.linspace(2.0, 4.0, n)
    means = torch.stack([torch.zeros(n), torch.zeros(n), z], dim=-1).requires_grad_(True)
    quats = torch.tensor([[1.0, 0.0, 0.0, 0.0]]).repeat(n, 1)
    scales = torch.full((n, 3), 0.1)
    opacities = torch.full((n,), 0.5)
    colors = torch.rand(n, 3)
    Ks = torch.tensor([[[32.0, 0.0, 16.0], [0.0, 32.0, 16.0], [0.0, 0.0, 1.0]]])
    img, alpha, _ = rasterization_cpu(
        means, quats, scales, opacities, colors, torch.eye(4)[None], Ks, 32, 32
    )
    (img.sum() + alpha.sum()).backward()
