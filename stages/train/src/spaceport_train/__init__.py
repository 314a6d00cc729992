"""Spaceport training stage: COLMAP model + images -> trained 3D Gaussian splats."""

import os

# The CPU kernels' OpenMP threads (numba's omp layer, on the libgomp PyTorch loads) sleep when
# idle rather than spin: spinning threads take the cores that PyTorch, or anything else on a
# busy machine, needs next (measured: training steps at half speed beside two busy processes).
# libgomp reads this once, when it is loaded, so it is set here, before anything imports torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
