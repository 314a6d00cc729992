"""Compatibility with the reference reader/writer, `@playcanvas/splat-transform` (npm, pinned in
the repository's package.json and installed by `make setup` into node_modules)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from spaceport_compress.attributes import log_transform
from spaceport_compress.decoder import read_model
from spaceport_compress.quality import attribute_rmse
from spaceport_compress.settings import CompressSettings
from spaceport_compress.sog_format import read_sog
from spaceport_compress.stage import run
from spaceport_shared.ply import read_ply, write_ply
from spaceport_shared.settings import parse_settings
from spaceport_shared.splat import SplatModel

REPO = Path(__file__).resolve().parents[3]
CLI = REPO / "node_modules" / "@playcanvas" / "splat-transform" / "bin" / "cli.mjs"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None or not CLI.is_file(),
    reason="splat-transform needs Node.js and node_modules (run `make setup` with npm on PATH)",
)


def splat_transform(*args: str | Path) -> None:
    result = subprocess.run(
        [str(NODE), str(CLI), "-q", "-w", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def _match(original: SplatModel, decoded: SplatModel) -> SplatModel:
    """`original` reordered to `decoded`'s order (splat-transform reorders), by nearest mean."""
    d2 = ((decoded.means[:, None, :] - original.means[None, :, :]) ** 2).sum(-1)
    rows = np.argmin(d2, axis=1)
    assert len(np.unique(rows)) == len(rows)  # a one-to-one match
    return original.select(rows)


def test_splat_transform_reads_our_sog(tmp_path: Path, model_sh3: SplatModel) -> None:
    ply = write_ply(tmp_path / "scene.ply", model_sh3)
    out = tmp_path / "out"
    out.mkdir()
    run(parse_settings(CompressSettings, {"sh_iterations": "4"}), ply, out)
    ours = read_model(out / "scene.sog")
    for source in (out / "scene.sog", out / "sog" / "meta.json"):
        back_ply = tmp_path / f"back-{source.suffix[1:]}.ply"
        splat_transform(source, back_ply)
        theirs = read_ply(back_ply)
        assert theirs.count == ours.count and theirs.sh_degree == 3
        for name, values in ours.arrays().items():
            # the same bytes through the same formulas: equal up to float32 rounding
            np.testing.assert_allclose(getattr(theirs, name), values, rtol=1e-6, atol=1e-6)


def test_we_read_splat_transforms_sog(tmp_path: Path, model_sh1: SplatModel) -> None:
    ply = write_ply(tmp_path / "scene.ply", model_sh1)
    sog = tmp_path / "theirs.sog"
    splat_transform("-g", "cpu", ply, sog)
    ours = read_model(sog)
    splat_transform(sog, tmp_path / "theirs-decoded.ply")
    theirs = read_ply(tmp_path / "theirs-decoded.ply")
    for name, values in ours.arrays().items():
        np.testing.assert_allclose(values, getattr(theirs, name), rtol=1e-6, atol=1e-6)
    # and what we decode is the original within quantisation error
    original = _match(model_sh1, ours)
    errors = attribute_rmse(original, ours)
    meta_means = read_sog(sog).meta["means"]
    step = (np.asarray(meta_means["maxs"]) - np.asarray(meta_means["mins"])) / 65535
    log_err = np.abs(log_transform(ours.means.astype(float)) - log_transform(original.means))
    assert (log_err <= step + 1e-6).all()  # their writer truncates: within one 16-bit step
    assert errors["rmse_quats"] < 0.01
    assert errors["rmse_scales"] < 0.05
    assert errors["rmse_opacity"] < 0.01
    # splat-transform's default lossless WebP is not `exact`: libwebp may rewrite the colour of
    # a texel whose alpha (opacity byte) is 0, so compare colours of the visible splats only
    visible = (
        1 / (1 + np.exp(-original.opacities.astype(float))) >= 1 / 255
    )  # their byte: floor(255 * opacity)
    assert np.abs(ours.sh0[visible] - original.sh0[visible]).max() < 0.05
    assert errors["rmse_shN"] < 0.5 * float(np.sqrt(np.mean(model_sh1.shN**2)))
