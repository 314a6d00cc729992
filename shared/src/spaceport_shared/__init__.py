"""What every Spaceport stage needs: the container contract, settings, reports and splat I/O.

Imports without torch, pycolmap, gsplat or numba (tested), so every stage and the
orchestration can depend on it.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
