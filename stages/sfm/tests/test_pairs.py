from itertools import pairwise

import numpy as np

from spaceport_sfm.exif import GeoPosition, PhotoExif
from spaceport_sfm.pairs import plan_matching
from spaceport_sfm.photos import Photo

_ORIGIN = (46.84, -91.99)
_METRE_LAT = 1 / 111_320  # degrees of latitude per metre


def _photos(n: int, gps: bool = True, spacing_m: float = 10.0) -> list[Photo]:
    photos = []
    for i in range(n):
        # a lawnmower grid: 10 photos per line, lines 15 m apart
        east, north = (i // 10) * 15.0, (i % 10) * spacing_m
        lon_scale = _METRE_LAT / np.cos(np.radians(_ORIGIN[0]))
        position = GeoPosition(
            _ORIGIN[0] + north * _METRE_LAT, _ORIGIN[1] + east * lon_scale, 40.0, True
        )
        info = PhotoExif(
            "DJI",
            "FC",
            f"2024:01:01 10:{i // 60:02d}:{i % 60:02d}",
            20.0,
            position if gps else None,
        )
        photos.append(
            Photo(f"IMG_{i:04d}.jpg", f"IMG_{i:04d}.jpg", 640, 480, 640, 480, info, 500.0)
        )
    return photos


def _plan(photos, requested, spatial_neighbors, sequential_overlap):
    return plan_matching(
        photos,
        requested=requested,
        exhaustive_max_images=20,
        spatial_neighbors=spatial_neighbors,
        sequential_overlap=sequential_overlap,
    )


def test_small_sets_are_matched_exhaustively():
    plan = _plan(_photos(12), "auto", 10, 8)
    assert plan.mode == "exhaustive"
    assert len(plan.pairs) == 12 * 11 // 2
    assert "12 images" in plan.reason


def test_gps_sets_get_spatial_pairs_growing_linearly():
    small = _plan(_photos(100), "auto", 6, 3)
    large = _plan(_photos(400), "auto", 6, 3)
    assert small.mode == large.mode == "spatial"
    assert len(large.pairs) <= 4.5 * len(small.pairs)  # linear, not 16x
    assert len(large.pairs) < 400 * 399 // 2 / 20
    names = [p.name for p in _photos(100)]
    pairs = set(small.pairs)
    # the neighbour on the next flight line (15 m east, same position along the line)
    assert (names[3], names[13]) in pairs
    # the next photo in capture order
    assert all((a, b) in pairs for a, b in pairwise(names))
    assert all(a != b for a, b in small.pairs)
    assert len(pairs) == len(small.pairs)  # each pair once


def test_without_gps_sequential_and_overrides():
    plan = _plan(_photos(50, gps=False), "auto", 6, 4)
    assert plan.mode == "sequential"
    assert len(plan.pairs) == sum(min(4, 49 - i) for i in range(50))
    forced = _plan(_photos(50), "exhaustive", 6, 4)
    assert forced.mode == "exhaustive" and len(forced.pairs) == 50 * 49 // 2
    fallback = _plan(_photos(50, gps=False), "spatial", 6, 4)
    assert fallback.mode == "sequential" and "GPS" in fallback.reason
