"""gsplat's PyTorch reference maths, used by the CPU backend: one door to a private module.

`gsplat.cuda._torch_impl` is gsplat's own pure-PyTorch implementation (its tests compare the
CUDA kernels against it). It is private: names and signatures may change in any release, which
is one reason gsplat is pinned exactly (`gsplat==1.5.3` in pyproject.toml). Every use in this
package and its tests goes through here, so an upgrade is checked in one place.
"""

from __future__ import annotations

from gsplat.cuda._torch_impl import _fully_fused_projection as fully_fused_projection
from gsplat.cuda._torch_impl import _quat_scale_to_covar_preci as quat_scale_to_covar_preci
from gsplat.cuda._torch_impl import _quat_to_rotmat as quat_to_rotmat
from gsplat.cuda._torch_impl import _spherical_harmonics as spherical_harmonics

__all__ = [
    "fully_fused_projection",
    "quat_scale_to_covar_preci",
    "quat_to_rotmat",
    "spherical_harmonics",
]
