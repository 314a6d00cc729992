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
