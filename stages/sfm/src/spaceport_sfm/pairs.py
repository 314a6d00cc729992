"""Which image pairs to match, chosen for the data.

- exhaustive: every pair; best for small sets, where it costs little.
- spatial: each image with its nearest GPS neighbours, plus its neighbours in capture order; the
  number of pairs grows linearly with the images. Capture order covers what GPS misses when the
  fix is noisier than the spacing between photos (phones, ~5-10 m), and GPS covers what capture
  order misses (the neighbouring flight line of a lawnmower survey).
- sequential: neighbours in capture order, for sequences without GPS.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from spaceport_sfm.georeference import enu_from_gps
from spaceport_sfm.photos import Photo

# GPS must cover this share of the photos for spatial matching.
_MIN_GPS_SHARE = 0.8


@dataclass(frozen=True)
class MatchPlan:
    mode: str  # "exhaustive" | "spatial" | "sequential"
    reason: str
    pairs: list[tuple[str, str]]  # image names, each unordered pair once


def _sequential(names: list[str], overlap: int) -> set[tuple[int, int]]:
    n = len(names)
    return {(i, j) for i in range(n) for j in range(i + 1, min(n, i + overlap + 1))}


def _gps_neighbours(enu: np.ndarray, k: int) -> set[tuple[int, int]]:  # enu: [N, 3]
    # horizontal distance: flights keep altitude, phone altitudes are the noisiest axis
    xy = enu[:, :2]
    dist = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=2)  # [N, N], N <= a few 1000
    np.fill_diagonal(dist, np.inf)
    nearest = np.argsort(dist, axis=1)[:, : min(k, len(xy) - 1)]
    return {(min(i, int(j)), max(i, int(j))) for i in range(len(xy)) for j in nearest[i]}


def plan_matching(
    photos: list[Photo],
    *,
    requested: str,
    exhaustive_max_images: int,
    spatial_neighbors: int,
    sequential_overlap: int,
) -> MatchPlan:
    """Pairs for `photos` (in capture order) under the requested mode ("auto" decides)."""
    names = [p.name for p in photos]
    n = len(names)
    with_gps = [p for p in photos if p.exif.gps is not None]
    gps_ok = len(with_gps) == n or (len(with_gps) >= _MIN_GPS_SHARE * n and len(with_gps) >= 3)
    mode = requested
    if requested == "auto":
        if n <= exhaustive_max_images:
            mode = "exhaustive"
            reason = f"{n} images (at most {exhaustive_max_images}): every pair is affordable"
        elif gps_ok:
            mode = "spatial"
            reason = (
                f"{len(with_gps)} of {n} images carry GPS: each is matched with its "
                f"{spatial_neighbors} nearest GPS neighbours and {sequential_overlap} "
                "neighbours in capture order"
            )
        else:
            mode = "sequential"
            reason = (
                f"{len(with_gps)} of {n} images carry GPS, too few for spatial matching: each is "
                f"matched with {sequential_overlap} neighbours in capture order"
            )
    else:
        reason = f"requested with matching={requested}"
        if requested == "spatial" and not gps_ok:
            mode = "sequential"
            reason = (
                f"spatial matching was requested but only {len(with_gps)} of {n} images carry "
                "GPS, so images are matched with their neighbours in capture order"
            )
    if mode == "exhaustive":
        index_pairs = set(combinations(range(n), 2))
    elif mode == "spatial":
        located = [i for i, p in enumerate(photos) if p.exif.gps is not None]
        enu = enu_from_gps([photos[i].exif.gps for i in located])
        local = _gps_neighbours(enu, spatial_neighbors)
        index_pairs = {(located[a], located[b]) for a, b in local}
        index_pairs |= _sequential(names, max(sequential_overlap, 1))
    else:
        index_pairs = _sequential(names, max(sequential_overlap, 1))
    pairs = [(names[i], names[j]) for i, j in sorted(index_pairs)]
    return MatchPlan(mode=mode, reason=f"{reason} ({len(pairs)} pairs)", pairs=pairs)
