"""The compression stage's settings (SageMaker ContainerArguments `--set key=value`)."""

from __future__ import annotations

from dataclasses import dataclass

from spaceport_compress.palette import ITERATIONS, NPROBE
from spaceport_shared.settings import setting


@dataclass(frozen=True)
class CompressSettings:
    ordering: str = setting(
        "morton",
        help="texel order: morton (Z-order of positions, fast) or plas (self-organising sort)",
        choices=("morton", "plas"),
    )
    sh_palette_size: int = setting(
        0,
        help="SH palette entries; 0 picks splat-transform's size for the splat count (<= 65536)",
        min=0,
        max=65536,
    )
    sh_iterations: int = setting(
        ITERATIONS, help="k-means iterations for the SH palette", min=1, max=100
    )
    sh_nprobe: int = setting(
        NPROBE, help="palette cells searched per splat in each k-means assignment", min=1, max=1024
    )
    min_opacity: float = setting(
        0.0, help="drop splats less opaque than this (0 keeps every splat)", min=0.0, max=1.0
    )
    webp_method: int = setting(2, help="lossless WebP method: 0 fast .. 6 small", min=0, max=6)
    webp_quality: int = setting(
        75, help="lossless WebP effort: 0 fast .. 100 small", min=0, max=100
    )
    seed: int = setting(0, help="seed of the palette's k-means and the PLAS sort", min=0)
    threads: int = setting(0, help="worker threads; 0 uses every core", min=0, max=1024)
    max_extract_gib: float = setting(
        20.0, help="refuse a model archive that expands beyond this many GiB", min=0.001
    )
