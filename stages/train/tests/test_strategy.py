"""gsplat's DefaultStrategy drives the CPU backend: it reads our `info` and densifies."""

from __future__ import annotations

import pytest
import torch
from gsplat.strategy import DefaultStrategy
from train_scenes import tiny_scene

from spaceport_shared.errors import SpaceportError
from spaceport_train.backend import rasterize, resolve_backend


def test_default_strategy_grows_and_prunes_with_cpu_backend():
    torch.manual_seed(0)
    w, h = 48, 36
    means, quats, scales, opacities, colors, viewmats, Ks = tiny_scene(
        150, w, h, torch.float32, seed=11, opaque=False
    )
    opacities[:10] = 0.001  # below prune_opa: these must go
    params = torch.nn.ParameterDict(
        {
            "means": means,
            "quats": quats,
            "scales": torch.log(scales),
            "opacities": torch.logit(opacities),
            "colors": colors,
        }
    )
    optimizers = {
        k: torch.optim.Adam([{"params": p, "lr": 1e-3, "name": k}]) for k, p in params.items()
    }
    strategy = DefaultStrategy(
        refine_start_iter=1, refine_every=2, grow_grad2d=1e-7, grow_scale3d=0.05, reset_every=1000
    )
    strategy.check_sanity(params, optimizers)
    state = strategy.initialize_state(scene_scale=1.0)
    target = torch.rand(1, h, w, 3, generator=torch.Generator().manual_seed(1))
    counts = []
    for step in range(5):
        img, _, info = rasterize(
            "cpu",
            means=params["means"],
            quats=params["quats"],
            scales=torch.exp(params["scales"]),
            opacities=torch.sigmoid(params["opacities"]),
            colors=params["colors"],
            viewmats=viewmats,
            Ks=Ks,
            width=w,
            height=h,
            packed=False,
        )
        strategy.step_pre_backward(params, optimizers, state, step, info)
        loss = (img - target).abs().mean()
        loss.backward()
        assert info["means2d"].grad is not None and info["means2d"].grad.abs().sum() > 0
        for opt in optimizers.values():
            opt.step()
            opt.zero_grad(set_to_none=True)
        strategy.step_post_backward(params, optimizers, state, step, info, packed=False)
        counts.append(len(params["means"]))
    assert counts[0] == 150  # step 0: nothing refined yet
    assert max(counts) > 150  # duplicated / split
    assert torch.sigmoid(params["opacities"]).min() >= 0.005  # the faint ones were pruned
    assert len(state["grad2d"]) == len(params["means"])  # strategy state follows the edits


def test_backend_auto_is_cpu_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_backend("auto") == "cpu"
    assert resolve_backend("cpu") == "cpu"
    with pytest.raises(SpaceportError, match="backend=cuda"):
        resolve_backend("cuda")
