"""Shared fixtures: a synthetic survey (generated, never downloaded) and helpers."""

from __future__ import annotations

import pytest

from spaceport_synth import generate


@pytest.fixture(scope="session")
def survey(tmp_path_factory):
    """The `test` preset: 12 photos, 320x240, GPS EXIF, ground-truth poses beside them."""
    return generate(tmp_path_factory.mktemp("synth") / "survey", preset="test", seed=0)
