from __future__ import annotations

import sys
from pathlib import Path

import pytest

from spaceport_shared.splat import SplatModel

# The test fixtures beside this file (the synthetic model) import as plain modules.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_model import synthetic_model


@pytest.fixture(scope="session")
def model_sh3() -> SplatModel:
    return synthetic_model(3000, sh_degree=3, seed=1)


@pytest.fixture(scope="session")
def model_sh1() -> SplatModel:
    return synthetic_model(1500, sh_degree=1, seed=2)
