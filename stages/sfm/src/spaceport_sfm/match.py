"""Match SIFT features of the planned image pairs and verify them geometrically (pycolmap)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pycolmap

from spaceport_sfm.pairs import MatchPlan


@dataclass(frozen=True)
class Matches:
    pairs_verified: int  # image pairs with a verified two-view geometry


def match_pairs(
    database: Path, plan: MatchPlan, scratch: Path, *, threads: int, seed: int
) -> Matches:
    """Match and verify `plan.pairs` into `database`."""
    pair_list = scratch / "pairs.txt"
    pair_list.write_text("".join(f"{a} {b}\n" for a, b in plan.pairs))
    matching = pycolmap.FeatureMatchingOptions()
    matching.num_threads = threads  # COLMAP: <= 0 uses every core
    verification = pycolmap.TwoViewGeometryOptions()
    verification.ransac.random_seed = seed
    pairing = pycolmap.ImportedPairingOptions()
    pairing.match_list_path = pair_list
    pycolmap.match_image_pairs(
        database,
        matching_options=matching,
        pairing_options=pairing,
        verification_options=verification,
    )
    with pycolmap.Database.open(database) as db:
        return Matches(pairs_verified=db.num_verified_image_pairs())
