"""A trained-looking 3DGS model of a surveyed site, for the tests and the benchmark.

Not uniform noise: what a 3DGS optimisation of a drone survey tends to leave behind.
Splats crowd onto surfaces (terrain with relief, building walls and roofs, tree crowns) and
lie flat on them (one short axis along the surface normal, so the rotations follow the normals),
with a few large splats on a distant background shell; opacities pile up near opaque with a tail
of faint ones; colours follow materials and a smooth texture; higher-order SH are small, shared
per material, vary smoothly over the surface, and decay with the band, with many splats nearly
view-independent.
"""

from __future__ import annotations

import numpy as np

from spaceport_shared.splat import SH_C0, SH_REST_COUNTS, SplatModel


def _quat_from_normal(normals: np.ndarray, spin: np.ndarray) -> np.ndarray:
    """(w, x, y, z) of rotations taking the local z axis to `normals`, then spun about it."""
    n = normals / np.linalg.norm(normals, axis=1, keepdims=True)
    z = np.array([0.0, 0.0, 1.0])
    axis = np.cross(np.broadcast_to(z, n.shape), n)
    sin = np.linalg.norm(axis, axis=1)
    cos = n[:, 2]
    angle = np.arctan2(sin, cos)
    axis = np.where(sin[:, None] > 1e-9, axis / np.maximum(sin, 1e-9)[:, None], [1.0, 0.0, 0.0])
    tilt = np.concatenate([np.cos(angle / 2)[:, None], axis * np.sin(angle / 2)[:, None]], 1)
    turn = np.stack([np.cos(spin / 2), 0 * spin, 0 * spin, np.sin(spin / 2)], 1)
    # tilt * turn (Hamilton product)
    w1, x1, y1, z1 = tilt.T
    w2, x2, y2, z2 = turn.T
    return np.stack(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ],
        1,
    )


def _smooth_field(rng: np.random.Generator, points: np.ndarray, dims: int, scale: float):
    """A smooth random function R^3 -> R^dims (a few random sinusoids), about unit amplitude."""
    waves = 6
    freqs = rng.normal(0, 1.0 / scale, (waves, 3))
    phases = rng.uniform(0, 2 * np.pi, waves)
    mix = rng.normal(0, 1.0 / np.sqrt(waves), (waves, dims))
    return np.sin(points @ freqs.T + phases) @ mix


def synthetic_model(count: int, sh_degree: int = 3, seed: int = 0) -> SplatModel:
    rng = np.random.default_rng(seed)
    k = SH_REST_COUNTS[sh_degree]
    n_ground, n_build, n_tree = int(count * 0.5), int(count * 0.25), int(count * 0.17)
    n_bg = count - n_ground - n_build - n_tree

    # terrain: a height field with relief; normals from its gradient
    g = rng.uniform(-80, 80, (n_ground, 2))
    h = 3 * np.sin(g[:, 0] / 23) * np.cos(g[:, 1] / 17) + 0.8 * np.sin(g[:, 0] / 5 + g[:, 1] / 7)
    dx = 3 / 23 * np.cos(g[:, 0] / 23) * np.cos(g[:, 1] / 17) + 0.8 / 5 * np.cos(
        g[:, 0] / 5 + g[:, 1] / 7
    )
    dy = -3 / 17 * np.sin(g[:, 0] / 23) * np.sin(g[:, 1] / 17) + 0.8 / 7 * np.cos(
        g[:, 0] / 5 + g[:, 1] / 7
    )
    ground = np.c_[g, h]
    ground_n = np.c_[-dx, -dy, np.ones(n_ground)]

    # buildings: box walls and roofs
    centres = rng.uniform(-60, 60, (24, 2))
    sizes = rng.uniform(6, 18, (24, 3))
    which = rng.integers(0, 24, n_build)
    face = rng.integers(0, 5, n_build)  # 0-3 walls, 4 roof
    u = rng.uniform(-0.5, 0.5, (n_build, 3))
    axis = np.where(face < 4, face // 2, 2)
    side = np.where(face % 2 == 0, 0.5, -0.5)
    side[face == 4] = 0.5
    u[np.arange(n_build), axis] = side
    build = np.c_[centres[which], np.zeros(n_build)] + (u + np.array([0, 0, 0.5])) * sizes[which]
    build_n = np.zeros((n_build, 3))
    build_n[np.arange(n_build), axis] = np.sign(side)

    # tree crowns: fuzzy ellipsoids, normals pointing out
    crowns = np.c_[rng.uniform(-75, 75, (80, 2)), rng.uniform(5, 9, 80)]
    which_tree = rng.integers(0, 80, n_tree)
    offset = rng.normal(0, 1, (n_tree, 3)) * [2.2, 2.2, 2.8]
    tree = crowns[which_tree] + offset
    tree_n = offset

    # background: a shell far away (sky, distant land), big soft splats
    d = rng.normal(size=(n_bg, 3))
    d[:, 2] = np.abs(d[:, 2]) * 0.6
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    bg = d * rng.uniform(250, 600, (n_bg, 1))
    bg_n = -d

    means = np.concatenate([ground, build, tree, bg])
    normals = np.concatenate([ground_n, build_n, tree_n, bg_n])
    kind = np.repeat([0, 1, 2, 3], [n_ground, n_build, n_tree, n_bg])
    material = np.concatenate(
        [
            rng.integers(0, 4, n_ground),
            4 + which % 6,
            np.full(n_tree, 10) + which_tree % 2,
            np.full(n_bg, 12),
        ]
    )

    # size: small on content, big far away; flat along the normal
    base = np.select([kind == 3, kind == 2], [1.2, -2.2], -2.8) + rng.normal(0, 0.45, count)
    scales = base[:, None] + rng.normal(0, 0.25, (count, 3))
    scales[:, 2] -= np.where(kind == 2, 0.6, 2.2) + rng.exponential(0.6, count)
    quats = _quat_from_normal(normals, rng.uniform(0, 2 * np.pi, count))
    quats *= rng.uniform(0.5, 1.5, (count, 1))  # trained quats are not unit length

    faint = rng.random(count) < 0.2
    opacities = np.where(faint, rng.normal(-2.5, 1.2, count), rng.normal(4.0, 1.8, count))

    palette = rng.uniform(0.15, 0.85, (13, 3))
    rgb = palette[material] + 0.12 * _smooth_field(rng, means, 3, 6.0)
    rgb += rng.normal(0, 0.03, (count, 3))
    sh0 = ((np.clip(rgb, 0, 1) - 0.5) / SH_C0).reshape(count, 1, 3)

    shN = np.zeros((count, k, 3))
    if k:
        band = np.concatenate([np.full(2 * b + 1, b) for b in range(1, sh_degree + 1)])
        decay = 0.25 / band**1.5  # amplitude per coefficient
        material_sh = rng.normal(0, 1, (13, k, 3)) * decay[None, :, None]
        spatial = _smooth_field(rng, means, k * 3, 10.0).reshape(count, k, 3)
        strength = np.where(rng.random(count) < 0.4, 0.08, 1.0)[:, None, None]  # near-diffuse
        shN = strength * (material_sh[material] + 0.5 * spatial * decay[None, :, None])
        shN += rng.normal(0, 0.01, shN.shape) * decay[None, :, None] / decay[0]

    perm = rng.permutation(count)  # training leaves splats in no particular order
    return SplatModel(
        means=means[perm],
        quats=quats[perm],
        scales=scales[perm],
        opacities=opacities[perm],
        sh0=sh0[perm],
        shN=shN[perm],
    )
