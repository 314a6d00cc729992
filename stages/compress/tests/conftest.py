from __future__ import annotations

import pytest

from spaceport_compress.synthetic_model import synthetic_model
from spaceport_shared.splat import SplatModel


@pytest.fixture(scope="session")
def model_sh3() -> SplatModel:
    return synthetic_model(3000, sh_degree=3, seed=1)


@pytest.fixture(scope="session")
def model_sh1() -> SplatModel:
    return synthetic_model(1500, sh_degree=1, seed=2)
