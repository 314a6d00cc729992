"""Which photos are held out for the PSNR and SSIM a run reports.

gsplat's COLMAP parser holds out every 8th image by name (0, 8, 16, ...). On a small flight the
first and last photos by name are the ends of the outer flight lines, whose outer halves no
other photo sees (brighton_beach: of 18 photos, 0 is the take-off corner): their PSNR measures
ground the model never saw, not how well it learnt what it saw. `interior` keeps the count
(one in `test_every`) but holds out the photos with the most cameras around them looking the same
way, never two neighbours, so each held-out view is surrounded by training views like it (a
position-only count held out all four of the demo survey's obliques, leaving none to train on).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree

PICKS = ("by-name", "interior")
SAME_WAY_COS = math.cos(math.radians(30.0))  # optical axes this close count as neighbours


def held_out(
    centers: np.ndarray,  # [N, 3] camera centres, views sorted by name
    axes: np.ndarray,  # [N, 3] unit optical axes (world frame)
    test_every: int,
    pick: str,
) -> list[int]:
    """Indices (into the name-sorted views) of the held-out views."""
    n = len(centers)
    if n < 2:
        return []
    if pick == "by-name":
        return list(range(0, n, test_every))
    count = math.ceil(n / test_every)
    tree = cKDTree(centers)
    spacing = float(np.median(tree.query(centers, k=2)[0][:, 1]))  # nearest-camera distance
    # Cameras within two spacings looking the same way: a view inside a lawnmower grid has ~8,
    # one at its corner ~3, an oblique among nadir shots none.
    neighbours = np.array(
        [
            int((axes[tree.query_ball_point(c, 2.0 * spacing)] @ axis >= SAME_WAY_COS).sum()) - 1
            for c, axis in zip(centers, axes, strict=True)
        ]
    )
    chosen: list[int] = []
    for index in sorted(range(n), key=lambda i: (-neighbours[i], i)):
        if len(chosen) == count:
            break
        near = np.linalg.norm(centers[chosen] - centers[index], axis=1) if chosen else []
        if all(d > 1.5 * spacing for d in near):  # never two neighbours: no hole in training
            chosen.append(index)
    return sorted(chosen)
