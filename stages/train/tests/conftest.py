"""Fixtures: tiny random splat scenes and a tiny COLMAP model of the synthetic survey."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


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


@pytest.fixture(scope="session")
def synth_model(tmp_path_factory) -> Path:
    """The synthetic 'test' survey (12 photos, 320x240) as a COLMAP model of its true poses."""
    from spaceport_shared.synth import generate, write_colmap_model

    root = tmp_path_factory.mktemp("synth")
    survey = generate(root / "survey", preset="test", seed=0)
    write_colmap_model(survey.root, root / "model", num_points=2000)
    return root / "model"
