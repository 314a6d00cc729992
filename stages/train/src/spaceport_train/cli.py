"""`spaceport-train`: the train stage's console script (container mode: `spaceport-train train`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from spaceport_shared.entrypoint import StageSpec, stage_main
from spaceport_train.backend import configure_numba_threads
from spaceport_train.settings import TrainSettings
from spaceport_train.stage import run

SPEC = StageSpec(
    name="train",
    kind="training",
    settings_cls=TrainSettings,
    run=run,
    description="Train 3D Gaussian splats from a COLMAP model and its undistorted images.",
    channel="training",
)


def main(argv: Sequence[str] | None = None) -> int:
    configure_numba_threads()
    return stage_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
