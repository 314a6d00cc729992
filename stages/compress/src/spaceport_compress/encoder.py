"""A splat model as SOG v2 images and meta.json (in memory; `sog_format` writes them)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import numpy as np

from spaceport_compress import attributes
from spaceport_compress.codebook import Codebook, fit_codebook
from spaceport_compress.palette import (
    ITERATIONS,
    MAX_PALETTE,
    NPROBE,
    Palette,
    default_palette_size,
    first_use_order,
    fit_palette,
    nearest,
    reorder,
    similarity_order,
)
from spaceport_compress.sog_format import (
    SogFiles,
    WebpOptions,
    encode_webp,
    texels_to_image,
    texture_size,
)
from spaceport_shared.splat import SplatModel

SH_PALETTE_ROW = 64  # palette entries per row of shN_centroids.webp


@dataclass(frozen=True)
class EncodeOptions:
    palette_size: int = 0  # 0: splat-transform's rule for the splat count
    palette_iterations: int = ITERATIONS
    palette_nprobe: int = NPROBE
    seed: int = 0
    threads: int = 0  # 0: every core
    generator: str = "spaceport-compress"
    webp: WebpOptions = field(default_factory=WebpOptions)  # also picks the palette entry order


Step = Callable[[str], AbstractContextManager[None]]


def _no_timing(name: str) -> AbstractContextManager[None]:
    return contextlib.nullcontext()


def _channel_major(shN: np.ndarray) -> np.ndarray:
    """[N, K, 3] -> [N, 3K] in the PLY's f_rest order (all red coefficients first)."""
    n, k, _ = shN.shape
    return np.ascontiguousarray(shN.transpose(0, 2, 1).reshape(n, 3 * k))


def encode_model(
    model: SplatModel,
    order: np.ndarray,  # [N] texel i holds splat order[i]
    options: EncodeOptions = EncodeOptions(),
    step: Step = _no_timing,
) -> SogFiles:
    n = model.count
    width, height = texture_size(n)

    def image(texels: np.ndarray) -> np.ndarray:
        return texels_to_image(texels[order], width, height)

    meta: dict = {"version": 2, "asset": {"generator": options.generator}, "count": n}
    sog = SogFiles(meta)

    with step("means"):
        codes, mins, maxs = attributes.encode_means(model.means)
        lo = np.full((n, 4), 255, np.uint8)
        hi = np.full((n, 4), 255, np.uint8)
        lo[:, :3] = codes & 0xFF
        hi[:, :3] = codes >> 8
        sog.images["means_l.webp"] = image(lo)
        sog.images["means_u.webp"] = image(hi)
        meta["means"] = {"mins": mins, "maxs": maxs, "files": ["means_l.webp", "means_u.webp"]}

    with step("scales"):
        scales_book = fit_codebook(model.scales)
        texels = np.full((n, 4), 255, np.uint8)
        texels[:, :3] = scales_book.encode(model.scales)
        sog.images["scales.webp"] = image(texels)
        meta["scales"] = {"codebook": _json_floats(scales_book), "files": ["scales.webp"]}

    with step("quats"):
        sog.images["quats.webp"] = image(attributes.encode_quats(model.quats))
        meta["quats"] = {"files": ["quats.webp"]}

    with step("sh0"):
        dc = model.sh0[:, 0, :]
        sh0_book = fit_codebook(dc)
        texels = np.empty((n, 4), np.uint8)
        texels[:, :3] = sh0_book.encode(dc)
        texels[:, 3] = attributes.encode_opacity(model.opacities)
        sog.images["sh0.webp"] = image(texels)
        meta["sh0"] = {"codebook": _json_floats(sh0_book), "files": ["sh0.webp"]}

    if model.shN.shape[1] > 0:
        _encode_sh_rest(model, order, options, step, sog, image)
    return sog


def _encode_sh_rest(model, order, options, step, sog, image) -> None:
    n, coeffs = model.count, model.shN.shape[1]
    rest = _channel_major(model.shN)  # [N, 3K]
    size = min(options.palette_size or default_palette_size(n), MAX_PALETTE)
    with step("sh_palette"):
        palette, index = fit_palette(
            rest,
            size,
            iterations=options.palette_iterations,
            nprobe=options.palette_nprobe,
            seed=options.seed,
            threads=options.threads,
        )
    with step("sh_codebook"):
        # weight each entry by its members: the codebook then minimises the splats' error
        book = fit_codebook(palette.centroids, weights=palette.counts[:, None])
        entry_codes = book.encode(palette.centroids)  # [P, 3K]
        palette = _reassign(rest, palette, book, entry_codes, index)
    with step("sh_pack"):
        # Two entry orders: similar entries adjacent (the palette image compresses better) or
        # entries in order of first use (the label image does); keep the smaller pair.
        best = None
        for entry_order in (
            similarity_order(palette.centroids),
            first_use_order(palette.labels[order], len(palette.centroids)),
        ):
            candidate = reorder(palette, entry_order)
            images = _sh_images(candidate, entry_codes[entry_order], coeffs, image)
            nbytes = sum(len(encode_webp(im, options.webp)) for im in images)
            if best is None or nbytes < best[0]:
                best = (nbytes, images, len(candidate.centroids))
        _, (centroids_image, labels_image), p = best
        sog.images["shN_centroids.webp"] = centroids_image
        sog.images["shN_labels.webp"] = labels_image
        sog.meta["shN"] = {
            "count": p,
            "bands": model.sh_degree,
            "codebook": _json_floats(book),
            "files": ["shN_centroids.webp", "shN_labels.webp"],
        }


def _sh_images(palette: Palette, entry_codes: np.ndarray, coeffs: int, image):
    """shN_centroids.webp (entry e, coefficient j at row e // 64, column (e % 64) * coeffs + j,
    the R, G, B codebook indices in its RGB) and shN_labels.webp (16-bit label in R, G)."""
    p = len(palette.centroids)
    rows = -(-p // SH_PALETTE_ROW)
    grid = np.zeros((rows * SH_PALETTE_ROW, coeffs, 4), np.uint8)
    grid[..., 3] = 255
    per_channel = entry_codes.reshape(p, 3, coeffs)  # channel-major -> [P, channel, coeff]
    grid[:p, :, :3] = per_channel.transpose(0, 2, 1)
    labels = np.zeros((len(palette.labels), 4), np.uint8)
    labels[:, 0] = palette.labels & 0xFF
    labels[:, 1] = palette.labels >> 8
    labels[:, 3] = 255
    return grid.reshape(rows, SH_PALETTE_ROW * coeffs, 4), image(labels)


def _reassign(
    rest: np.ndarray, palette: Palette, book: Codebook, entry_codes: np.ndarray, index
) -> Palette:
    """Each splat to the entry nearest after the codebook (what the viewer will decode)."""
    if index is None:  # one entry per splat: nothing nearer than its own
        return palette
    decoded = book.decode(entry_codes)
    labels = nearest(index, decoded, rest)
    counts = np.bincount(labels, minlength=len(decoded))
    return Palette(palette.centroids, labels, counts)


def _json_floats(book: Codebook) -> list[float]:
    return [float(v) for v in book.values]
