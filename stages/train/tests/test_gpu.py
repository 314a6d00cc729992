"""gsplat's CUDA backend and the CPU backend agree (needs a CUDA GPU; the CPU side of the same
comparison is covered against the dense reference in test_rasterizer.py)."""

from __future__ import annotations

import pytest
import torch
from train_scenes import benchmark_scene

from spaceport_train.backend import rasterize, resolve_backend

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _render(backend: str, device: str):
    scene = benchmark_scene(5000, 160, 120, seed=3)
    leaves = [t.detach().clone().to(device).requires_grad_(True) for t in scene.leaves()]
    img, alpha, info = rasterize(
        backend,
        means=leaves[0],
        quats=leaves[1],
        scales=leaves[2],
        opacities=leaves[3],
        colors=leaves[4],
        viewmats=scene.viewmats.to(device),
        Ks=scene.Ks.to(device),
        width=160,
        height=120,
        packed=False,
    )
    info["means2d"].retain_grad()
    (img.sum() + alpha.sum()).backward()
    grads = [t.grad.cpu() for t in leaves] + [info["means2d"].grad.cpu()]
    return img.detach().cpu(), info["radii"].cpu(), grads


def test_auto_picks_cuda():
    assert resolve_backend("auto") == "cuda"


def test_cuda_and_cpu_backends_agree():
    img_g, radii_g, grads_g = _render("cuda", "cuda")
    img_c, radii_c, grads_c = _render("cpu", "cpu")
    assert (img_g - img_c).abs().max() < 1e-3
    assert ((radii_g > 0).all(-1) == (radii_c > 0).all(-1)).float().mean() > 0.999
    for g, c in zip(grads_g, grads_c, strict=True):
        cos = torch.nn.functional.cosine_similarity(g.flatten(), c.flatten(), dim=0)
        assert cos > 0.999
