"""Synthetic drone survey: Spaceport's demo data and the ground truth its tests measure against.

    survey = generate(Path("out"), preset="test", seed=0)
    truth = read_ground_truth(survey.root)
    write_colmap_model(survey.root, Path("model"))  # a COLMAP text model of the true poses

Pure numpy + Pillow + piexif: importable without pycolmap, torch or matplotlib.
"""

from .colmap_model import write_colmap_model
from .flaws import Flaws
from .geodesy import GeoOrigin, enu_to_geodetic, geodetic_to_enu
from .ground_truth import GroundTruth, ImageTruth, read_ground_truth
from .presets import PRESETS, Preset
from .render import PinholeCamera
from .survey import DEFAULT_ORIGIN, Survey, generate

__all__ = [
    "DEFAULT_ORIGIN",
    "PRESETS",
    "Flaws",
    "GeoOrigin",
    "GroundTruth",
    "ImageTruth",
    "PinholeCamera",
    "Preset",
    "Survey",
    "enu_to_geodetic",
    "generate",
    "geodetic_to_enu",
    "read_ground_truth",
    "write_colmap_model",
]
