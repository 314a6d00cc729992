"""Extra outputs for people: held-out renders beside the truth, and the training curve."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: containers and CI have no display
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image
from torch import Tensor


def save_side_by_side(folder: Path, renders: list[tuple[str, Tensor, Tensor]]) -> list[Path]:
    """One PNG per held-out view: truth on the left, render on the right."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, truth, render in renders:
        pair = np.concatenate([truth.numpy(), render.numpy()], axis=1)
        pixels = (np.clip(pair, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        path = folder / f"{Path(name).stem}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def save_training_curve(
    path: Path, history: list[tuple[int, float]], evals: list[tuple[int, float]]
) -> Path:
    """Loss per step (and its running mean) with held-out PSNR on a second axis."""
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    if history:
        steps = np.array([s for s, _ in history])
        losses = np.array([v for _, v in history])
        ax.plot(steps, losses, color="0.75", linewidth=0.6, label="loss")
        window = max(1, len(losses) // 50)
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1 :], smooth, color="C0", label=f"loss ({window}-step mean)")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (L1 + SSIM)")
    ax.set_yscale("log")
    if evals:
        ax2 = ax.twinx()
        ax2.plot([s for s, _ in evals], [p for _, p in evals], "o-", color="C3", label="PSNR")
        ax2.set_ylabel("held-out PSNR (dB)", color="C3")
    ax.legend(loc="upper right")
    ax.set_title("Spaceport training")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
