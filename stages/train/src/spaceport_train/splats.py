"""The trainable Gaussians: initialisation from SfM points, optimizers, export to `SplatModel`.

Parameters follow gsplat's `splats` dict (means, log-scales, unnormalised quats, opacity
logits, sh0, shN), one Adam per parameter as gsplat's `simple_trainer` (eps 1e-15), which is
the layout `gsplat.strategy.DefaultStrategy` edits in place when it densifies and prunes.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import Tensor

from spaceport_shared.splat import SH_C0, SplatModel
from spaceport_train.scene_data import Normalization
from spaceport_train.settings import TrainSettings


def initial_splats(
    points: np.ndarray,  # [P, 3] training frame
    colors: np.ndarray,  # [P, 3] in [0, 1]
    settings: TrainSettings,
    generator: torch.Generator,
    device: torch.device,
) -> torch.nn.ParameterDict:
    """gsplat's `create_splats_with_optimizers` for SfM init: scale from the 3-NN distance."""
    n = len(points)
    k = min(4, n)  # the point itself + 3 neighbours
    if n > 1:
        dist, _ = cKDTree(points).query(points, k=k)
        mean_dist = np.sqrt((np.asarray(dist)[:, 1:] ** 2).mean(axis=1))
    else:
        mean_dist = np.full(n, 0.01)
    mean_dist = np.clip(mean_dist, 1e-7, None)
    scales = np.log(mean_dist * settings.init_scale)[:, None].repeat(3, axis=1)
    quats = torch.rand((n, 4), generator=generator)
    opacities = torch.logit(torch.full((n,), settings.init_opacity))
    sh0 = torch.from_numpy((colors - 0.5) / SH_C0).float()[:, None, :]
    shn = torch.zeros((n, (settings.sh_degree + 1) ** 2 - 1, 3))
    params = {
        # A copy: from_numpy would share float32 points, and Adam would move the scene's own.
        "means": torch.tensor(points, dtype=torch.float32),
        "scales": torch.from_numpy(scales).float(),
        "quats": quats,
        "opacities": opacities,
        "sh0": sh0,
        "shN": shn,
    }
    return torch.nn.ParameterDict(
        {name: torch.nn.Parameter(value.to(device)) for name, value in params.items()}
    )


def learning_rates(settings: TrainSettings, scene_scale: float) -> dict[str, float]:
    return {
        "means": settings.means_lr * scene_scale,
        "scales": settings.scales_lr,
        "quats": settings.quats_lr,
        "opacities": settings.opacities_lr,
        "sh0": settings.sh0_lr,
        "shN": settings.shN_lr,
    }


def make_optimizers(
    splats: torch.nn.ParameterDict, lrs: dict[str, float]
) -> dict[str, torch.optim.Adam]:
    """One Adam per parameter, as gsplat's trainer; on a CPU the fused kernel (the same update,
    a third of the per-step multi-pass tensor arithmetic's time at 500k Gaussians)."""
    return {
        name: torch.optim.Adam(
            [{"params": splats[name], "lr": lrs[name], "name": name}],
            eps=1e-15,
            fused=splats[name].device.type == "cpu",
        )
        for name in splats
    }


def export_model(splats: torch.nn.ParameterDict, norm: Normalization) -> SplatModel:
    """The splats in the input's frame: undo the normalisation (translate, scale; no rotation)."""

    def arr(name: str) -> np.ndarray:
        return splats[name].detach().float().cpu().numpy()

    means = norm.to_input(arr("means").astype(np.float64))
    return SplatModel(
        means=means,
        quats=arr("quats"),
        scales=arr("scales") - np.log(norm.scale),
        opacities=arr("opacities"),
        sh0=arr("sh0"),
        shN=arr("shN"),
    )


def colors_for(splats: torch.nn.ParameterDict) -> Tensor:  # [N, K, 3]
    return torch.cat([splats["sh0"], splats["shN"]], dim=1)
