"""The held-out split: gsplat's every n-th by name, or interior views of the flight."""

from __future__ import annotations

import numpy as np

from spaceport_train.holdout import held_out

DOWN = np.array([0.0, 0.0, -1.0])


def _lawnmower(
    lines: int, per_line: int, spacing: float = 10.0, line_spacing: float | None = None
) -> np.ndarray:
    """Camera centres of a serpentine flight, in flight (= name) order."""
    centres = []
    for line in range(lines):
        ys = range(per_line) if line % 2 == 0 else reversed(range(per_line))
        centres += [(line * (line_spacing or spacing), y * spacing, 40.0) for y in ys]
    return np.array(centres, dtype=float)


def _nadir(centres: np.ndarray) -> np.ndarray:
    return np.tile(DOWN, (len(centres), 1))


def test_by_name_is_every_nth_from_the_first():
    centres = _lawnmower(3, 6)
    assert held_out(centres, _nadir(centres), 8, "by-name") == [0, 8, 16]
    one = _lawnmower(1, 1)
    assert held_out(one, _nadir(one), 8, "by-name") == []


def test_interior_keeps_the_count_and_holds_out_no_edge_or_neighbours():
    centres = _lawnmower(3, 6)  # 18 views, as brighton_beach
    chosen = held_out(centres, _nadir(centres), 8, "interior")
    assert len(chosen) == 3
    # All on the middle line (x = 10): with training views on both sides across the lines ...
    assert all(centres[i, 0] == 10.0 for i in chosen), chosen
    # ... and no two adjacent: training views before and after each along the line.
    gaps = [np.linalg.norm(centres[a] - centres[b]) for a in chosen for b in chosen if a < b]
    assert min(gaps) > 10.0


def test_interior_never_holds_out_obliques_among_nadir_shots():
    """The demo survey's case: a grid of nadir shots (lines 20 m apart, shots 9.5 m), then four
    tilted ones between its lines, each with more cameras near it than any grid shot (so a
    count by position alone holds out all four)."""
    grid = _lawnmower(4, 6, spacing=9.5, line_spacing=20.0)
    middle = grid.mean(axis=0)
    tilt = np.radians(35.0)
    obliques, axes = [], []
    for corner in ([-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]):
        out = np.array([*corner, 0.0]) / np.sqrt(2.0)
        obliques.append(middle + 20.0 * np.array([*corner, 0.0]))
        axes.append(-np.sin(tilt) * out + np.cos(tilt) * DOWN)  # tilted back towards the middle
    centres = np.concatenate([grid, obliques])
    assert held_out(centres, _nadir(centres), 8, "interior") == [24, 25, 26, 27]  # all obliques
    chosen = held_out(centres, np.concatenate([_nadir(grid), axes]), 8, "interior")
    assert len(chosen) == 4 and max(chosen) < len(grid), chosen


def test_interior_of_a_pair_holds_out_one():
    pair = np.array([[0.0, 0, 0], [1.0, 0, 0]])
    assert len(held_out(pair, _nadir(pair), 8, "interior")) == 1
