"""Incremental mapping that stays near-linear on large flights (pycolmap 4.2.1's own options).

pycolmap's incremental mapper adjusts the whole model each time it has grown by 10 % in images
or points (`ba_global_frames_ratio` / `ba_global_points_ratio` = 1.1), and each such global
adjustment costs more as the model grows; local adjustments (6 images) stay bounded. On the
`large` survey at 100 photos the global adjustments took 25-50 s each, every ~8 images, next to
~3.5 s per registered image (2 cores, load ~15): the global ones grow the time faster than N.

From `LARGE_FROM_IMAGES` photos on: a global adjustment only after 40 % growth (a third as
many), at most 30 solver iterations each (the final one after mapping, in the prior
adjustment, converges fully), and redundant points left out of it (COLMAP's
`ba_global_ignore_redundant_points3D`, which keeps the points that constrain each image).
"""

from __future__ import annotations

import pycolmap

LARGE_FROM_IMAGES = 150
GLOBAL_GROWTH = 1.4
GLOBAL_MAX_ITERATIONS = 30


def tune_incremental(options: pycolmap.IncrementalPipelineOptions, images: int) -> bool:
    """Bound the global adjustments of `options` (in place) for `images` photos; True if so."""
    if images < LARGE_FROM_IMAGES:
        return False
    options.ba_global_frames_ratio = GLOBAL_GROWTH
    options.ba_global_points_ratio = GLOBAL_GROWTH
    options.ba_global_max_num_iterations = GLOBAL_MAX_ITERATIONS
    options.mapper.ba_global_ignore_redundant_points3D = True
    return True
