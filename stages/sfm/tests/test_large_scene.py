"""Large flights bound the incremental mapper's global adjustments; small ones keep pycolmap's."""

import pycolmap

from spaceport_sfm.large_scene import GLOBAL_GROWTH, LARGE_FROM_IMAGES, tune_incremental


def test_small_sets_keep_pycolmap_s_global_adjustments():
    options, defaults = pycolmap.IncrementalPipelineOptions(), pycolmap.IncrementalPipelineOptions()
    assert not tune_incremental(options, LARGE_FROM_IMAGES - 1)
    assert options.todict() == defaults.todict()


def test_large_sets_adjust_globally_less_often_and_with_fewer_points():
    options = pycolmap.IncrementalPipelineOptions()
    assert tune_incremental(options, 400)
    assert options.ba_global_frames_ratio == options.ba_global_points_ratio == GLOBAL_GROWTH > 1.1
    assert 0 < options.ba_global_max_num_iterations <= 50
    assert options.mapper.ba_global_ignore_redundant_points3D
