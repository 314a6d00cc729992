"""The CPU backend against the dense reference: images, alphas and every gradient."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
import torch
from train_reference import project_gaussians_torch, rasterization_reference
from train_scenes import tiny_scene

from spaceport_train import cpu_kernels
from spaceport_train.cpu_rasterizer import rasterization_cpu
from spaceport_train.gsplat_torch import fully_fused_projection, quat_scale_to_covar_preci
from spaceport_train.projection import project_gaussians

W, H = 40, 30


def _both(scene, sh_degree=None, background=None, absgrad=False):
    """Render with both rasterizers, back-propagate the same random weights, return all."""
    dtype = scene[0].dtype
    out = []
    gen = torch.Generator().manual_seed(7)
    weights = torch.rand(1, H, W, 3, generator=gen, dtype=torch.float64).to(dtype)
    weights_a = torch.rand(1, H, W, 1, generator=gen, dtype=torch.float64).to(dtype)
    for raster in (rasterization_cpu, rasterization_reference):
        leaves = [t.clone().requires_grad_(True) for t in scene[:5]]
        bg = None if background is None else background.clone().requires_grad_(True)
        kwargs = {"sh_degree": sh_degree, "backgrounds": bg}
        if raster is rasterization_cpu:
            kwargs["absgrad"] = absgrad
        img, alpha, info = raster(*leaves, scene[5], scene[6], W, H, **kwargs)
        info["means2d"].retain_grad()
        ((img * weights).sum() + (alpha * weights_a).sum()).backward()
        grads = [t.grad for t in leaves] + [info["means2d"].grad]
        if bg is not None:
            grads.append(bg.grad)
        out.append((img.detach(), alpha.detach(), grads, info))
    return out


@pytest.mark.parametrize("opaque", [False, True])
def test_matches_reference_float64(opaque):
    scene = tiny_scene(80, W, H, torch.float64, seed=1, opaque=opaque)
    (img, alpha, grads, _), (ref_img, ref_alpha, ref_grads, _) = _both(
        scene, background=torch.tensor([[0.2, 0.3, 0.4]], dtype=torch.float64)
    )
    assert img.abs().sum() > 0
    torch.testing.assert_close(img, ref_img, rtol=0, atol=1e-12)
    torch.testing.assert_close(alpha, ref_alpha, rtol=0, atol=1e-12)
    names = ["means", "quats", "scales", "opacities", "colors", "means2d", "backgrounds"]
    for name, g, ref in zip(names, grads, ref_grads, strict=True):
        assert ref.abs().max() > 0, name
        torch.testing.assert_close(g, ref, rtol=1e-9, atol=1e-10, msg=name)


@pytest.mark.parametrize(("constant", "value"), [("T_MIN", 0.0), ("ALPHA_MAX", 1.0)])
def test_opaque_scene_exercises_early_stop_and_clamp(monkeypatch, constant, value):
    """The opaque scene really reaches the 1e-4 stop and the 0.999 clamp (switching either
    off changes the image), so the test above covers those branches of the backward."""
    scene = tiny_scene(80, W, H, torch.float64, seed=1, opaque=True)
    img, _, _ = rasterization_cpu(*scene, W, H)
    monkeypatch.setattr(cpu_kernels, constant, value)
    changed, _, _ = rasterization_cpu(*scene, W, H)
    assert (img - changed).abs().max() > 1e-5


def test_matches_reference_float32_with_sh():
    scene = tiny_scene(60, W, H, torch.float32, seed=2, opaque=False)
    gen = torch.Generator().manual_seed(3)
    scene[4] = torch.randn(60, 4, 3, generator=gen) * 0.5  # SH degree 1 coefficients
    (img, alpha, grads, _), (ref_img, ref_alpha, ref_grads, _) = _both(scene, sh_degree=1)
    torch.testing.assert_close(img, ref_img, rtol=0, atol=5e-6)
    torch.testing.assert_close(alpha, ref_alpha, rtol=0, atol=5e-6)
    for g, ref in zip(grads, ref_grads, strict=True):
        scale = ref.abs().max()
        torch.testing.assert_close(g / scale, ref / scale, rtol=0, atol=1e-5)  # measured 2.5e-6


def test_float32_exp_is_within_float32_rounding():
    """The kernels' float32 exp(-x) (a polynomial LLVM can vectorise) against float64's, over
    the range where alpha can pass 1/255 (measured: at most 1.5e-6 relative)."""
    x = np.linspace(0.0, math.log(255.0), 100_001).astype(np.float32)
    approx = _exp_neg_all(x).astype(np.float64)
    exact = np.exp(-x.astype(np.float64))
    assert np.abs(approx / exact - 1.0).max() < 2e-6


@numba.njit
def _exp_neg_all(x):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = cpu_kernels.exp_neg(x[i])
    return out


def test_gradcheck_against_finite_differences():
    """torch.autograd.gradcheck on the CPU backend itself (float64, a few Gaussians)."""
    means, quats, scales, opacities, colors, viewmats, Ks = tiny_scene(
        6, 16, 12, torch.float64, seed=4, opaque=False
    )
    Ks = Ks.clone()
    Ks[:, 0, 2], Ks[:, 1, 2] = 8.0, 6.0
    Ks[:, 0, 0] = Ks[:, 1, 1] = 12.0

    def render(m, s, o, c):
        img, alpha, _ = rasterization_cpu(m, quats, s, o, c, viewmats, Ks, 16, 12)
        return img, alpha

    inputs = [t.clone().requires_grad_(True) for t in (means, scales, opacities, colors)]
    assert torch.autograd.gradcheck(render, inputs, eps=1e-7, atol=1e-5, rtol=1e-4)


def test_info_matches_what_default_strategy_reads():
    scene = tiny_scene(50, W, H, torch.float32, seed=5, opaque=False)
    (_, _, grads, info), _ = _both(scene, absgrad=True)
    assert info["radii"].shape == (1, 50, 2) and info["radii"].dtype == torch.int32
    assert info["means2d"].shape == (1, 50, 2)
    assert info["width"] == W and info["height"] == H and info["n_cameras"] == 1
    assert "gaussian_ids" in info and info["gaussian_ids"] is None  # unpacked layout
    visible = (info["radii"] > 0).all(-1)
    assert 0 < visible.sum() < 50 or visible.all()
    absgrad = info["means2d"].absgrad
    assert absgrad.shape == (1, 50, 2)
    assert (absgrad >= grads[5].abs() - 1e-6).all()  # |sum| <= sum of |.|


def test_projection_matches_gsplat_reference():
    """Our projection (GEMM form) gives gsplat's `_fully_fused_projection` numbers."""
    means, quats, scales, opacities, _, viewmats, Ks = tiny_scene(
        200, 64, 48, torch.float64, seed=6, opaque=False
    )
    angle = torch.tensor(0.3, dtype=torch.float64)
    rot = torch.tensor(
        [
            [1, 0, 0],
            [0, torch.cos(angle), -torch.sin(angle)],
            [0, torch.sin(angle), torch.cos(angle)],
        ],
        dtype=torch.float64,
    )
    viewmats = viewmats.clone()
    viewmats[0, :3, :3] = rot
    viewmats[0, :3, 3] = torch.tensor([0.1, -0.2, 0.5], dtype=torch.float64)
    ours = project_gaussians(means, quats, scales, opacities, viewmats, Ks, 64, 48)
    covars, _ = quat_scale_to_covar_preci(quats, scales, compute_preci=False)
    radii, means2d, depths, conics, _ = fully_fused_projection(means, covars, viewmats, Ks, 64, 48)
    torch.testing.assert_close(ours.means2d, means2d)
    torch.testing.assert_close(ours.depths, depths)
    torch.testing.assert_close(ours.conics, conics)
    # Opacity-aware radii are never larger than gsplat's 3.33-sigma ones.
    assert (ours.radii <= radii).all()
    assert ((ours.radii > 0) <= (radii > 0)).all()


@pytest.mark.parametrize("antialiased", [False, True])
def test_projection_backward_matches_autograd(antialiased):
    """The numba projection's hand-written backward against autograd through the PyTorch
    formulas: two cameras (one rotated, one off-centre so some Gaussians hit the 1.3x
    field-of-view clamp of the Jacobian), unnormalised quaternions, float64."""
    means, quats, scales, opacities, _, viewmats, Ks = tiny_scene(
        120, 64, 48, torch.float64, seed=8, opaque=False
    )
    means = means * torch.tensor([3.0, 3.0, 1.0], dtype=torch.float64)  # some outside the view
    quats = quats * 1.7
    second = viewmats.clone()
    second[0, :3, :3] = torch.linalg.matrix_exp(
        torch.tensor([[0.0, -0.2, 0.1], [0.2, 0.0, -0.3], [-0.1, 0.3, 0.0]], dtype=torch.float64)
    )
    second[0, :3, 3] = torch.tensor([0.4, -0.3, 0.6], dtype=torch.float64)
    viewmats = torch.cat([viewmats, second])
    Ks = torch.cat([Ks, Ks]).clone()
    Ks[1, 0, 2] = 5.0  # principal point near the left edge
    gen = torch.Generator().manual_seed(9)
    results = []
    for project in (project_gaussians, project_gaussians_torch):
        leaves = [t.clone().requires_grad_(True) for t in (means, quats, scales, opacities)]
        proj = project(*leaves, viewmats, Ks, 64, 48, antialiased=antialiased)
        gen.manual_seed(9)
        loss = sum(
            (t * torch.randn(t.shape, generator=gen, dtype=torch.float64)).sum()
            for t in (proj.means2d, proj.conics, proj.opacities)
        )
        loss.backward()
        results.append((proj, [t.grad for t in leaves]))
    (ours, grads), (ref, ref_grads) = results
    assert torch.equal(ours.radii, ref.radii)
    assert 0 < (ours.radii[1] > 0).all(-1).sum() < 120
    for name in ("means2d", "depths", "conics", "opacities"):
        torch.testing.assert_close(getattr(ours, name), getattr(ref, name), msg=name)
    for name, g, r in zip(("means", "quats", "scales", "opacities"), grads, ref_grads):
        assert r.abs().max() > 0, name
        torch.testing.assert_close(g, r, rtol=1e-9, atol=1e-9, msg=name)


def test_unsupported_options_fail_loudly():
    scene = tiny_scene(5, W, H, torch.float32, seed=0, opaque=False)
    with pytest.raises(ValueError, match="packed"):
        rasterization_cpu(*scene, W, H, packed=True)
    with pytest.raises(ValueError, match="render_mode"):
        rasterization_cpu(*scene, W, H, render_mode="RGB+D")
    with pytest.raises(ValueError, match="camera_model"):
        rasterization_cpu(*scene, W, H, camera_model="fisheye")


def test_depth_order_is_a_stable_sort_of_the_visible():
    """The float32 key sort gives the stable argsort's order: ties (a densification's
    duplicates) by id, negative depths first, invisible Gaussians left out."""
    gen = torch.Generator().manual_seed(10)
    depths = torch.randint(-3, 4, (500,), generator=gen).float() * 0.5  # many ties
    radii = torch.randint(0, 3, (500, 2), generator=gen, dtype=torch.int32)
    visible = (radii > 0).all(-1).nonzero()[:, 0]
    expected = visible[torch.sort(depths[visible], stable=True).indices]
    for dtype in (torch.float32, torch.float64):
        order = cpu_kernels.depth_order(radii.numpy(), depths.to(dtype).numpy())
        assert order.tolist() == expected.tolist()


def test_binning_slots_point_at_each_gaussians_intersections():
    scene = tiny_scene(300, W, H, torch.float32, seed=11, opaque=False)
    proj = project_gaussians(*scene[:4], scene[5], scene[6], W, H)
    radii = proj.radii[0].numpy()
    order = cpu_kernels.depth_order(radii, proj.depths[0].numpy())
    offsets, flat_ids, slot_offsets, slots = cpu_kernels.bin_gaussians(
        proj.means2d[0].numpy(), radii, order, 16, 8, 3, 4, 2
    )
    assert slot_offsets[-1] == flat_ids.shape[0] == offsets[-1] > order.shape[0]
    assert sorted(slots.tolist()) == list(range(flat_ids.shape[0]))
    for i, g in enumerate(order):
        assert (flat_ids[slots[slot_offsets[i] : slot_offsets[i + 1]]] == g).all()
    rank = {g: i for i, g in enumerate(order.tolist())}
    for t in range(offsets.shape[0] - 1):  # each tile's list runs near to far
        ranks = [rank[g] for g in flat_ids[offsets[t] : offsets[t + 1]].tolist()]
        assert ranks == sorted(ranks)
