"""Checkpoints: atomic files, newest valid one wins, torn files are skipped."""

from __future__ import annotations

import torch

from spaceport_train.checkpoint import (
    KEEP,
    list_checkpoints,
    load_newest_checkpoint,
    restore_rng_state,
    rng_state,
    save_checkpoint,
)


def _state(step: int) -> dict:
    return {"step": step, "splats": {"means": torch.full((3, 3), float(step))}}


def test_newest_valid_checkpoint_is_loaded_and_torn_ones_skipped(tmp_path):
    for step in (10, 20, 30):
        save_checkpoint(tmp_path, step, _state(step))
    assert [p.name for p in list_checkpoints(tmp_path)] == [
        "ckpt_000000030.pt",
        "ckpt_000000020.pt",
    ][:KEEP]
    assert not list(tmp_path.glob(".*tmp*"))  # no partial files left behind
    assert load_newest_checkpoint(tmp_path)["step"] == 30
    newest = list_checkpoints(tmp_path)[0]
    newest.write_bytes(newest.read_bytes()[:100])  # a torn write
    assert load_newest_checkpoint(tmp_path)["step"] == 20
    assert load_newest_checkpoint(tmp_path / "absent") is None


def test_rng_state_round_trip():
    state = rng_state()
    first = torch.rand(3)
    restore_rng_state(state)
    assert torch.equal(torch.rand(3), first)
