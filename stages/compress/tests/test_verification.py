"""What compress says when a .sog does not decode to its model: damaged palette labels, a failed
or suspect verification of the stage's own output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import spaceport_compress.stage as stage_module
from spaceport_compress.decoder import decode_sog
from spaceport_compress.encoder import EncodeOptions, encode_model
from spaceport_compress.morton import morton_order
from spaceport_compress.quality import VerificationError, verify
from spaceport_compress.settings import CompressSettings
from spaceport_shared.errors import SpaceportError
from spaceport_shared.ply import write_ply
from spaceport_shared.settings import parse_settings
from spaceport_shared.splat import SplatModel


def _sog(model: SplatModel):
    return encode_model(model, morton_order(model.means), EncodeOptions(palette_size=256))


def test_labels_past_the_palette_fail_or_warn_never_silently_zero(model_sh1: SplatModel):
    sog = _sog(model_sh1)
    intact = decode_sog(sog)
    sog.meta["shN"]["count"] = 16  # the labels of most splats now point past the palette
    with pytest.raises(SpaceportError, match=r"shN labels point past the 16-entry SOG palette"):
        decode_sog(sog)
    warnings: list[str] = []
    lenient = decode_sog(sog, warnings)  # splat-transform's reader: zero SH, here said aloud
    changed = np.any(lenient.shN != intact.shN, axis=(1, 2))
    assert 0 < changed.sum() < model_sh1.count
    assert np.all(lenient.shN[changed] == 0)
    [warning] = warnings
    assert warning.startswith(f"{changed.sum()} of {model_sh1.count} splats' shN labels")
    assert "decode as zero SH" in warning


def test_verify_fails_on_another_count_or_non_finite_values(model_sh1: SplatModel):
    errors, warnings = verify(model_sh1, model_sh1)
    assert warnings == [] and errors["rmse_shN"] == 0
    with pytest.raises(VerificationError, match="decodes to 1499 splats, not 1500"):
        verify(model_sh1, model_sh1.select(np.arange(1499)))
    arrays = {k: v.copy() for k, v in model_sh1.arrays().items()}
    arrays["scales"][0] = np.nan
    with pytest.raises(VerificationError, match="non-finite values"):
        verify(model_sh1, SplatModel(**arrays))


def test_a_suspect_decode_is_a_warning_in_the_report(model_sh1, tmp_path: Path, monkeypatch):
    real_decode = stage_module.decode_sog

    def damaged(sog, warnings=None):
        decoded = real_decode(sog, warnings)
        arrays = decoded.arrays()
        arrays["shN"] = arrays["shN"] + 0.5  # what a wrong palette would do
        return SplatModel(**arrays)

    monkeypatch.setattr(stage_module, "decode_sog", damaged)
    out = tmp_path / "out"
    out.mkdir()
    report = stage_module.run(
        parse_settings(CompressSettings, {"sh_palette_size": "256"}),
        write_ply(tmp_path / "m.ply", model_sh1),
        out,
    )
    [warning] = report.warnings
    assert warning.startswith("the decoded shN differ from the input by RMSE 0.5")
    assert report.metrics["rmse_shN"] == pytest.approx(0.5, abs=0.02)


def test_a_survey_far_from_the_origin_keeps_its_enu_frame(model_sh1: SplatModel):
    """The .sog keeps the SfM's ENU metres: a site 5.8 km from the frame's origin decodes where
    it was, not re-centred (SOG stores positions in log space, coarser far out)."""
    arrays = {k: v.copy() for k, v in model_sh1.arrays().items()}
    arrays["means"] = arrays["means"] + np.array([5000.0, -3000.0, 120.0], np.float32)
    far = SplatModel(**arrays)
    order = morton_order(far.means)
    decoded = decode_sog(encode_model(far, order, EncodeOptions(palette_size=256)))
    error = np.abs(decoded.means.astype(np.float64) - far.select(order).means)
    assert error.max() < 0.02  # metres
    centre = far.means.astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(decoded.means.astype(np.float64).mean(axis=0), centre, atol=1e-3)
