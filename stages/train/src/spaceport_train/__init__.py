"""Spaceport training stage: COLMAP model + images -> trained 3D Gaussian splats."""

__version__ = "0.1.0"
