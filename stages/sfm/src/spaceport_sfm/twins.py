"""One file per shot: a DNG beside a JPEG (or HEIC) of the same name is the same exposure.

Drones and phones write both when raw capture is on. Both in the model would be two cameras at
one place (a zero baseline that only costs matching time), so the rendered one is used: its
colours are the camera's own, while LibRaw's development of the DNG only approximates them.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from spaceport_sfm.formats import DNG_SUFFIXES
from spaceport_sfm.inputs import Candidate

_RENDERED_SUFFIXES = {".jpg", ".jpeg", ".heic", ".heif", ".png", ".tif", ".tiff"}


def _shot(name: str) -> tuple[str, str]:
    path = PurePosixPath(name)
    return (path.parent.as_posix(), path.stem.lower())


def split_raw_twins(candidates: list[Candidate]) -> tuple[list[Candidate], dict[str, str]]:
    """The candidates to read, and {raw file name: the twin used instead} for those left out."""
    rendered = {
        _shot(c.name): c.name
        for c in candidates
        if PurePosixPath(c.name).suffix.lower() in _RENDERED_SUFFIXES
    }
    kept, twins = [], {}
    for cand in candidates:
        twin = rendered.get(_shot(cand.name))
        if PurePosixPath(cand.name).suffix.lower() in DNG_SUFFIXES and twin is not None:
            twins[cand.name] = twin
        else:
            kept.append(cand)
    return kept, twins
