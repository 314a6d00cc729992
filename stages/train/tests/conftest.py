"""Fixtures: tiny random splat scenes and a tiny COLMAP model of the synthetic survey."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from spaceport_train.backend import configure_numba_threads

# The fixture modules beside the tests (train_scenes, train_reference) import by name.
sys.path.insert(0, str(Path(__file__).resolve().parent))
configure_numba_threads()  # as the console script does


@pytest.fixture(scope="session")
def synth_model(tmp_path_factory) -> Path:
    """The synthetic 'test' survey (12 photos, 320x240) as a COLMAP model of its true poses."""
    from spaceport_synth import generate, write_colmap_model

    root = tmp_path_factory.mktemp("synth")
    survey = generate(root / "survey", preset="test", seed=0)
    write_colmap_model(survey.root, root / "model", num_points=2000)
    return root / "model"
