"""The Gaussian-splat model: the one neutral hand-off type between training and compression.

Parameter names, layouts and units follow gsplat's `splats` dict, as numpy float32 arrays:

    means      [N, 3]   centres in the SfM output's world frame (ENU metres when georeferenced)
    quats      [N, 4]   rotations as (w, x, y, z), not necessarily normalised
    scales     [N, 3]   log of the standard deviations along the rotated axes
    opacities  [N]      logits (opacity = sigmoid(logit))
    sh0        [N, 1, 3] degree-0 SH coefficient per colour channel (colour = 0.5 + C0 * sh0)
    shN        [N, K, 3] higher-degree SH coefficients, K = (sh_degree + 1)^2 - 1 (0, 3, 8, 15)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SH_C0 = 0.28209479177387814
SH_REST_COUNTS = {0: 0, 1: 3, 2: 8, 3: 15}  # sh_degree -> K


def sh_degree_for(k: int) -> int:
    for degree, count in SH_REST_COUNTS.items():
        if count == k:
            return degree
    raise ValueError(f"{k} higher-order SH coefficients per channel match no SH degree 0-3")


@dataclass
class SplatModel:
    means: np.ndarray  # [N, 3]
    quats: np.ndarray  # [N, 4] (w, x, y, z)
    scales: np.ndarray  # [N, 3] log-scales
    opacities: np.ndarray  # [N] logits
    sh0: np.ndarray  # [N, 1, 3]
    shN: np.ndarray  # [N, K, 3]

    def __post_init__(self) -> None:
        n = len(self.means)
        self.means = np.ascontiguousarray(self.means, dtype=np.float32).reshape(n, 3)
        self.quats = np.ascontiguousarray(self.quats, dtype=np.float32).reshape(n, 4)
        self.scales = np.ascontiguousarray(self.scales, dtype=np.float32).reshape(n, 3)
        self.opacities = np.ascontiguousarray(self.opacities, dtype=np.float32).reshape(n)
        self.sh0 = np.ascontiguousarray(self.sh0, dtype=np.float32).reshape(n, 1, 3)
        shN = np.ascontiguousarray(self.shN, dtype=np.float32)
        k = shN.shape[1] if shN.ndim == 3 else shN.size // max(3 * n, 1)
        self.shN = shN.reshape(n, k, 3)
        sh_degree_for(self.shN.shape[1])  # raises for a K that is no SH degree

    @property
    def count(self) -> int:
        return len(self.means)

    @property
    def sh_degree(self) -> int:
        return sh_degree_for(self.shN.shape[1])

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "means": self.means,
            "quats": self.quats,
            "scales": self.scales,
            "opacities": self.opacities,
            "sh0": self.sh0,
            "shN": self.shN,
        }

    def finite_mask(self) -> np.ndarray:  # [N] bool: every value of the row is finite
        mask = np.ones(self.count, dtype=bool)
        for values in self.arrays().values():
            mask &= np.isfinite(values.reshape(self.count, -1)).all(axis=1)
        return mask

    def nonfinite_count(self) -> int:
        return int(self.count - self.finite_mask().sum())

    def select(self, rows: np.ndarray) -> SplatModel:
        """The splats picked by a boolean mask or an index array, in that order."""
        return SplatModel(**{name: values[rows] for name, values in self.arrays().items()})

    def colors(self) -> np.ndarray:  # [N, 3] view-independent RGB in [0, 1]
        return np.clip(0.5 + SH_C0 * self.sh0[:, 0, :], 0.0, 1.0)
