"""Focal length priors from EXIF and the check that refinement stayed near them.

Where overlap is weak (few images, sparse lines, a flat nadir survey) bundle adjustment cannot
separate focal length from flying height and lets it run off: a refined focal that leaves its
EXIF prior by more than `max_focal_change` is not believed, and the step is redone with the
focal held at the prior.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pycolmap

from spaceport_sfm.photos import Photo


@dataclass(frozen=True)
class FocalFigures:
    prior_px: float | None  # median EXIF prior of the cameras that have one
    refined_px: float | None  # median refined focal of those cameras
    held: bool  # refinement was undone: the focal kept its prior

    @property
    def change(self) -> float | None:
        if self.prior_px is None or self.refined_px is None:
            return None
        return self.refined_px / self.prior_px - 1.0


def focal_priors(model: pycolmap.Reconstruction, photos: list[Photo]) -> dict[int, float]:
    """EXIF focal length (working pixels) of each camera of `model` whose photos carry one."""
    return _priors_of(model.images.values(), photos)


def database_focal_priors(database: Path, photos: list[Photo]) -> dict[int, float]:
    """EXIF focal length (working pixels) of each camera in `database` whose photos carry one."""
    with pycolmap.Database.open(database) as db:
        return _priors_of(db.read_all_images(), photos)


def _priors_of(images: Iterable[pycolmap.Image], photos: list[Photo]) -> dict[int, float]:
    by_name = {p.name: p for p in photos}
    priors = {}
    for image in images:
        photo = by_name.get(image.name)
        if photo is not None and photo.focal_px:
            priors[image.camera_id] = photo.focal_px
    return priors


def largest_focal_change(model: pycolmap.Reconstruction, priors: dict[int, float]) -> float:
    """Largest |refined / prior - 1| over the cameras with a prior (0 without any)."""
    changes = [
        abs(model.cameras[cid].mean_focal_length() / prior - 1.0)
        for cid, prior in priors.items()
        if cid in model.cameras
    ]
    return max(changes, default=0.0)


def hold_focal(model: pycolmap.Reconstruction, priors: dict[int, float]) -> None:
    """Put every camera with a prior back on it (focal only; distortion stays refined)."""
    for cid, prior in priors.items():
        camera = model.cameras[cid]
        for index in camera.focal_length_idxs():
            camera.params[index] = prior
        model.cameras[cid] = camera


def focal_figures(
    model: pycolmap.Reconstruction, priors: dict[int, float], held: bool
) -> FocalFigures:
    known = [cid for cid in priors if cid in model.cameras]
    if not known:
        return FocalFigures(None, None, held)
    prior = sorted(priors[c] for c in known)[len(known) // 2]
    refined = sorted(model.cameras[c].mean_focal_length() for c in known)[len(known) // 2]
    return FocalFigures(prior, refined, held)
