"""SSIM's CPU blur (numba kernels, hand-written backward) against the banded-matrix GEMM."""

from __future__ import annotations

import torch

from spaceport_train.ssim import blur_gemm, blur_numba, ssim


def test_numba_blur_and_its_backward_match_the_gemm():
    gen = torch.Generator().manual_seed(0)
    maps = torch.rand(5, 1, 3, 30, 41, generator=gen, dtype=torch.float64)
    results = []
    for blur in (blur_numba, blur_gemm):
        x = maps.clone().requires_grad_(True)
        out = blur(x, 11, 1.5)
        gen.manual_seed(1)
        (out * torch.rand(out.shape, generator=gen, dtype=torch.float64)).sum().backward()
        results.append((out.detach(), x.grad))
    (out, grad), (ref, ref_grad) = results
    assert out.shape == (5, 1, 3, 20, 31)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-14)
    torch.testing.assert_close(grad, ref_grad, rtol=0, atol=1e-14)


def test_ssim_of_an_image_with_itself_is_one_and_falls_with_noise():
    gen = torch.Generator().manual_seed(2)
    a = torch.rand(1, 3, 24, 32, generator=gen)
    assert abs(float(ssim(a, a)) - 1.0) < 1e-5
    noisy = (a + 0.2 * torch.randn(a.shape, generator=gen)).clamp(0, 1)
    assert float(ssim(a, noisy)) < 0.9
