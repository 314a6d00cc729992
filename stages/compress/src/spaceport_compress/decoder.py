"""SOG v2 back to the shared splat model, decoding as splat-transform 3.7.0's reader does."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spaceport_compress import attributes
from spaceport_compress.sog_format import SogFiles, image_to_texels, read_sog
from spaceport_shared.errors import SpaceportError
from spaceport_shared.splat import SH_REST_COUNTS, SplatModel


def _codebook(meta: dict, key: str) -> np.ndarray:
    values = np.asarray(meta[key].get("codebook", []), np.float32)
    if values.shape != (256,):
        raise SpaceportError(f"The SOG meta.json's {key} codebook does not hold 256 values.")
    return values


def decode_sog(sog: SogFiles, warnings: list[str] | None = None) -> SplatModel:
    """The splats of a SOG bundle. shN labels past the palette decode as zero SH, as
    splat-transform's reader does, only when `warnings` is given (the count is added to it);
    otherwise they raise SpaceportError: such a file is damaged or was written wrongly."""
    meta = sog.meta
    n = int(meta["count"])

    def texels(key: str, i: int = 0) -> np.ndarray:
        return image_to_texels(sog.images[meta[key]["files"][i]], n)

    lo, hi = texels("means", 0), texels("means", 1)
    codes = lo[:, :3].astype(np.uint16) | (hi[:, :3].astype(np.uint16) << 8)
    means = attributes.decode_means(codes, meta["means"]["mins"], meta["means"]["maxs"])
    quats = attributes.decode_quats(texels("quats"))
    scales = _codebook(meta, "scales")[texels("scales")[:, :3]]
    sh0_texels = texels("sh0")
    sh0 = _codebook(meta, "sh0")[sh0_texels[:, :3]]
    opacities = attributes.decode_opacity(sh0_texels[:, 3])
    shN = _decode_sh_rest(sog, n, warnings)
    return SplatModel(
        means=means,
        quats=quats,
        scales=scales,
        opacities=opacities,
        sh0=sh0.reshape(n, 1, 3),
        shN=shN,
    )


def _decode_sh_rest(sog: SogFiles, n: int, warnings: list[str] | None) -> np.ndarray:
    meta = sog.meta.get("shN")
    if not meta or SH_REST_COUNTS.get(int(meta.get("bands", 0)), 0) == 0:
        return np.zeros((n, 0, 3), np.float32)
    coeffs = SH_REST_COUNTS[int(meta["bands"])]
    book = _codebook(sog.meta, "shN")
    centroids = sog.images[meta["files"][0]]
    if centroids.shape[1] != 64 * coeffs:
        raise SpaceportError(
            f"The SOG shN palette image is {centroids.shape[1]} texels wide, not {64 * coeffs}."
        )
    # palette entry e, coefficient j sits at row e // 64, column (e % 64) * coeffs + j
    entries = centroids.reshape(-1, coeffs, 4)[:, :, :3]  # [rows*64, coeffs, channel]
    palette = book[entries]  # [P', coeffs, 3]
    label_texels = image_to_texels(sog.images[meta["files"][1]], n)
    labels = label_texels[:, 0].astype(np.int64) | (label_texels[:, 1].astype(np.int64) << 8)
    entries_used = min(int(meta["count"]), len(palette))
    valid = labels < entries_used
    if not valid.all():
        problem = (
            f"{int((~valid).sum())} of {n} splats' shN labels point past the "
            f"{entries_used}-entry SOG palette"
        )
        if warnings is None:
            raise SpaceportError(f"{problem}; the file is damaged or was written wrongly.")
        warnings.append(f"{problem}: they decode as zero SH (view-independent colour)")
    shN = np.zeros((n, coeffs, 3), np.float32)
    shN[valid] = palette[labels[valid]]
    return shN


def read_model(path: Path, warnings: list[str] | None = None) -> SplatModel:
    """Decode a `.sog` bundle or a SOG folder into a splat model (see `decode_sog`)."""
    return decode_sog(read_sog(path), warnings)
