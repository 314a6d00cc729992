"""Spaceport compression stage: a trained 3DGS model -> PlayCanvas SOG (version 2) for the web."""

__version__ = "0.1.0"
