"""`spaceport-compress`: the processing job's entrypoint (and the local command)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from spaceport_compress.settings import CompressSettings
from spaceport_compress.stage import run
from spaceport_shared.entrypoint import StageSpec, stage_main

SPEC = StageSpec(
    name="compress",
    kind="processing",
    settings_cls=CompressSettings,
    run=run,
    description=(
        "Compress a trained 3DGS model (a .ply, or the training job's model.tar.gz) into "
        "PlayCanvas SOG: scene.sog and the sog/ folder, with report.json."
    ),
)


def main(argv: Sequence[str] | None = None) -> int:
    return stage_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
