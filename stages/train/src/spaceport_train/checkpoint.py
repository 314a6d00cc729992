"""Complete training checkpoints, written atomically, and resume from the newest valid one.

A checkpoint holds everything the next step depends on (reference: gaussian-splatting.md):
parameters, every optimizer's state, the LR scheduler, the densification strategy's state
(gradient accumulators, counts), the step, the RNG states (torch, numpy, python, and the
generator that orders the views) and the loss history for the training curve. SageMaker syncs
`/opt/ml/checkpoints` to S3 and hands it back on a spot restart.

Each file is written beside its final name, flushed to disk and renamed (`os.replace` is atomic),
so a kill mid-write leaves either the old set or the new file, never a torn one; a file that
still fails to load is skipped in favour of the next newest.
"""

from __future__ import annotations

import logging
import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)

_NAME = re.compile(r"^ckpt_(\d{9})\.pt$")
KEEP = 2  # the newest and one fallback


def checkpoint_path(folder: Path, step: int) -> Path:
    return Path(folder) / f"ckpt_{step:09d}.pt"


def rng_state() -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(folder: Path, step: int, state: dict[str, Any]) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = checkpoint_path(folder, step)
    tmp = folder / f".{final.name}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    for old in list_checkpoints(folder)[KEEP:]:
        old.unlink(missing_ok=True)
    return final


def list_checkpoints(folder: Path) -> list[Path]:
    """Checkpoint files, newest (highest step) first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if _NAME.match(p.name)]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)), reverse=True)


def load_newest_checkpoint(folder: Path, map_location: str | torch.device = "cpu") -> dict | None:
    for path in list_checkpoints(folder):
        try:
            # Our own files, holding numpy RNG state: not loadable with weights_only.
            state = torch.load(path, map_location=map_location, weights_only=False)
        except Exception as exc:  # torn or foreign file: fall back to the next one
            log.warning("skipping unreadable checkpoint %s: %s", path, exc)
            continue
        if isinstance(state, dict) and "step" in state and "splats" in state:
            log.info("resuming from %s (step %d)", path, state["step"])
            return state
        log.warning("skipping checkpoint %s: not a training checkpoint", path)
    return None
