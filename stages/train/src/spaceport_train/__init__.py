"""Spaceport training stage: COLMAP model + images -> trained 3D Gaussian splats."""

import os

# The CPU kernels' OpenMP threads (numba's omp layer, on the libgomp PyTorch loads) spin only
# briefly after a kernel, enough to catch the next kernel of the same step, then sleep: spinning
# longer (libgomp's default, 300,000 turns) takes the cores that anything else on a busy machine
# needs (measured beside one busy process: 3.8 training steps/s against 8.4 with 1,000 turns
# and 9.6 with numba's workqueue layer; on 2 idle cores 1,000 turns gave 15.2 against 11.4).
# libgomp reads this once, when it is loaded, so it is set here, before anything imports torch.
os.environ.setdefault("GOMP_SPINCOUNT", "1000")

__version__ = "0.1.0"
