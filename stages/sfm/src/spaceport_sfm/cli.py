"""`spaceport-sfm`: the SfM stage's console script (a SageMaker processing job's entrypoint)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from spaceport_sfm.settings import SfmSettings
from spaceport_sfm.stage import run
from spaceport_shared.entrypoint import StageSpec, stage_main

SPEC = StageSpec(
    name="sfm",
    kind="processing",
    settings_cls=SfmSettings,
    run=run,
    description="Structure-from-motion: photos (with GPS) in, a georeferenced COLMAP model out.",
)


def main(argv: Sequence[str] | None = None) -> int:
    return stage_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
