"""Match SIFT features of the planned image pairs and verify them geometrically (pycolmap)."""

from __future__ import annotations

from pathlib import Path

import pycolmap

from spaceport_sfm.pairs import MatchPlan


def match_pairs(database: Path, plan: MatchPlan, scratch: Path, num_threads: int, seed: int) -> int:
    """Match and verify `plan.pairs` into `database`; return the number of verified pairs."""
    pair_list = scratch / "pairs.txt"
    pair_list.write_text("".join(f"{a} {b}\n" for a, b in plan.pairs))
    matching = pycolmap.FeatureMatchingOptions()
    matching.num_threads = num_threads
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
        return db.num_verified_image_pairs()
