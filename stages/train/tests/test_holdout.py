"""The held-out split: gsplat's every n-th by name, or interior views of the flight."""

from __future__ import annotations

import numpy as np

from spaceport_train.holdout import held_out


def _lawnmower(lines: int, per_line: int, spacing: float = 10.0) -> np.ndarray:
    """Camera centres of a serpentine flight, in flight (= name) order."""
    centres = []
    for line in range(lines):
        ys = range(per_line) if line % 2 == 0 else reversed(range(per_line))
        centres += [(line * spacing, y * spacing, 40.0) for y in ys]
    return np.array(centres, dtype=float)


def test_by_name_is_every_nth_from_the_first():
    assert held_out(_lawnmower(3, 6), 8, "by-name") == [0, 8, 16]
    assert held_out(_lawnmower(1, 1), 8, "by-name") == []


def test_interior_keeps_the_count_and_holds_out_no_edge_or_neighbours():
    centres = _lawnmower(3, 6)  # 18 views, as brighton_beach
    chosen = held_out(centres, 8, "interior")
    assert len(chosen) == 3
    # All on the middle line (x = 10): with training views on both sides across the lines ...
    assert all(centres[i, 0] == 10.0 for i in chosen), chosen
    # ... and no two adjacent: training views before and after each along the line.
    gaps = [np.linalg.norm(centres[a] - centres[b]) for a in chosen for b in chosen if a < b]
    assert min(gaps) > 10.0


def test_interior_of_a_pair_holds_out_one():
    assert len(held_out(np.array([[0.0, 0, 0], [1.0, 0, 0]]), 8, "interior")) == 1
