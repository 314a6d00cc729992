"""The mappers' own logic, with pycolmap's pipelines replaced (their results are tested on
synthetic and real photos elsewhere)."""

from __future__ import annotations

import pycolmap

from spaceport_sfm import mapping


def test_global_mapping_that_builds_no_model_is_tried_again_with_another_seed(
    tmp_path, monkeypatch
):
    seeds = []
    built = pycolmap.Reconstruction()

    def global_mapping(database, image_dir, out, options):
        seeds.append(options.random_seed)
        return {} if len(seeds) < 2 else {0: built}

    monkeypatch.setattr(mapping.pycolmap, "global_mapping", global_mapping)
    models = mapping.map_global(
        tmp_path / "database.db", tmp_path, tmp_path, focal_px=1000.0, threads=1, seed=7
    )
    assert seeds == [7, 8]
    assert models.largest is built and models.count == 1


def test_global_mapping_gives_up_after_its_attempts(tmp_path, monkeypatch):
    seeds = []

    def global_mapping(database, image_dir, out, options):
        seeds.append(options.random_seed)
        return {}

    monkeypatch.setattr(mapping.pycolmap, "global_mapping", global_mapping)
    models = mapping.map_global(
        tmp_path / "database.db", tmp_path, tmp_path, focal_px=1000.0, threads=1, seed=0
    )
    assert seeds == [0, 1, 2]
    assert models.largest is None and models.count == 0


class _Camera:
    def __init__(self, focal):
        self.focal = focal

    def mean_focal_length(self):
        return self.focal


class _Model:
    def __init__(self, images, focal):
        self.images, self.cameras = images, {1: _Camera(focal)}

    def num_reg_images(self):
        return self.images


class _Manager:
    def __init__(self, model):
        self.model = model

    def size(self):
        return 1

    def get(self, index):
        return self.model


def _pipeline():
    options = pycolmap.IncrementalPipelineOptions()  # min_model_size 10, no runtime limit
    return type("Pipeline", (), {"options": options})()


def test_the_incremental_mapper_stops_once_a_model_has_run_off_its_focal():
    guard = mapping.FocalGuard({1: 1000.0}, 0.5)
    cases = {(9, 1600.0): False, (10, 1400.0): False, (10, 1600.0): True, (12, 400.0): True}
    for (images, focal), stops in cases.items():
        pipeline, stopped = _pipeline(), []
        mapping._stop_when_focal_runs_off(pipeline, _Manager(_Model(images, focal)), guard, stopped)
        assert (pipeline.options.max_runtime_seconds > 0) == stops, (images, focal)
        assert stopped == ([True] if stops else [])


def test_after_the_guard_stops_the_mapper_the_fallback_and_the_result_hold_the_focal(
    tmp_path, monkeypatch
):
    calls = []

    def incremental(*args, guard, **kwargs):
        assert guard.max_change == 0.5
        return mapping.Models(_Model(10, 3000.0), 1, focal_ran_off=True)

    def global_(*args, refine_focal=True, **kwargs):
        calls.append(refine_focal)
        return mapping.Models(_Model(28, 1000.0), 1)

    monkeypatch.setattr(mapping, "database_focal_priors", lambda database, photos: {1: 1000.0})
    monkeypatch.setattr(mapping, "map_incremental", incremental)
    monkeypatch.setattr(mapping, "map_global", global_)
    result = mapping.reconstruct(
        tmp_path / "database.db", tmp_path, tmp_path, mapper="incremental",
        photos=[object()] * 28, focal_px=1000.0, max_focal_change=0.5, threads=1, seed=0,
    )  # fmt: skip
    assert calls == [False]  # no GPS here, so no seeded model: GLOMAP with the focal held
    assert result.mapper == "global" and result.model.num_reg_images() == 28
    assert result.focal_held
    assert result.note.startswith("incremental mapper stopped at 10 images")
