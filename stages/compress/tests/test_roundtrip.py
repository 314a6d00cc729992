from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from spaceport_compress import attributes
from spaceport_compress.decoder import decode_sog, read_model
from spaceport_compress.encoder import EncodeOptions, encode_model
from spaceport_compress.morton import morton_order
from spaceport_compress.palette import default_palette_size
from spaceport_compress.quality import attribute_rmse
from spaceport_compress.sog_format import (
    WebpOptions,
    encode_images,
    read_sog,
    texture_size,
    write_bundle,
    write_folder,
)
from spaceport_shared.splat import SplatModel


def _encode(model: SplatModel, tmp_path, **options):
    order = morton_order(model.means)
    sog = encode_model(model, order, EncodeOptions(**options))
    encoded = encode_images(sog, WebpOptions())
    write_bundle(sog.meta, encoded, tmp_path / "scene.sog")
    write_folder(sog.meta, encoded, tmp_path / "sog")
    return order, sog


def _half_gap(book: np.ndarray) -> float:
    return float(np.diff(np.unique(book)).max() / 2)


def test_round_trip_error_bounds(model_sh3: SplatModel, tmp_path) -> None:
    order, sog = _encode(model_sh3, tmp_path)
    original = model_sh3.select(order)
    decoded = read_model(tmp_path / "scene.sog")
    assert decoded.count == original.count and decoded.sh_degree == 3

    mins, maxs = np.asarray(sog.meta["means"]["mins"]), np.asarray(sog.meta["means"]["maxs"])
    log_err = np.abs(
        attributes.log_transform(decoded.means.astype(np.float64))
        - attributes.log_transform(original.means.astype(np.float64))
    )
    assert (log_err <= (maxs - mins) / 65535 / 2 + 1e-6).all()

    unit = original.quats / np.linalg.norm(original.quats, axis=1, keepdims=True)
    assert np.abs((unit * decoded.quats).sum(axis=1)).min() > 1 - 1e-4

    for name, key in (("scales", "scales"), ("sh0", "sh0")):
        book = np.asarray(sog.meta[key]["codebook"])
        err = np.abs(getattr(decoded, name) - getattr(original, name))
        assert err.max() <= _half_gap(book) + 1e-6, name

    sig = lambda x: 1 / (1 + np.exp(-x.astype(np.float64)))  # noqa: E731
    assert np.abs(sig(decoded.opacities) - sig(original.opacities)).max() <= 0.5 / 255 + 1e-6

    errors = attribute_rmse(original, decoded)
    signal = float(np.sqrt(np.mean(original.shN.astype(np.float64) ** 2)))
    assert errors["rmse_shN"] < 0.25 * signal
    assert errors["rmse_scales"] < 0.01 and errors["rmse_sh0"] < 0.01


def test_folder_and_bundle_hold_the_same_scene(model_sh1: SplatModel, tmp_path) -> None:
    _encode(model_sh1, tmp_path)
    a, b = read_model(tmp_path / "sog"), read_model(tmp_path / "scene.sog")
    for name, values in a.arrays().items():
        np.testing.assert_array_equal(values, getattr(b, name))


def test_layout_matches_the_reference_writer(model_sh3: SplatModel, tmp_path) -> None:
    _encode(model_sh3, tmp_path)
    meta = json.loads((tmp_path / "sog" / "meta.json").read_text())
    assert list(meta) == ["version", "asset", "count", "means", "scales", "quats", "sh0", "shN"]
    assert meta["version"] == 2 and meta["count"] == model_sh3.count
    assert list(meta["means"]) == ["mins", "maxs", "files"]
    assert meta["means"]["files"] == ["means_l.webp", "means_u.webp"]
    assert list(meta["shN"]) == ["count", "bands", "codebook", "files"]
    assert meta["shN"]["files"] == ["shN_centroids.webp", "shN_labels.webp"]
    assert meta["shN"]["bands"] == 3 and len(meta["shN"]["codebook"]) == 256
    assert meta["shN"]["count"] <= default_palette_size(model_sh3.count)
    with zipfile.ZipFile(tmp_path / "scene.sog") as bundle:
        infos = bundle.infolist()
    assert [i.filename for i in infos] == [
        "means_l.webp", "means_u.webp", "scales.webp", "quats.webp", "sh0.webp",
        "shN_centroids.webp", "shN_labels.webp", "meta.json",
    ]  # fmt: skip
    assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
    width, height = texture_size(model_sh3.count)
    loaded = read_sog(tmp_path / "scene.sog")
    for name, image in loaded.images.items():
        if name == "shN_centroids.webp":
            assert image.shape == (-(-meta["shN"]["count"] // 64), 64 * 15, 4)
        else:
            assert image.shape == (height, width, 4), name
    labels = loaded.images["shN_labels.webp"].reshape(-1, 4)[: model_sh3.count]
    assert (labels[:, 0].astype(int) + 256 * labels[:, 1].astype(int) < meta["shN"]["count"]).all()


def test_texture_size_follows_splat_transform() -> None:
    # W = ceil(sqrt(N) / 4) * 4, H = ceil(N / W / 4) * 4
    assert texture_size(1) == (4, 4)
    assert texture_size(100_000) == (320, 316)
    assert texture_size(1_000_000) == (1000, 1000)


def test_degree_zero_model_has_no_shN(tmp_path) -> None:
    rng = np.random.default_rng(0)
    n = 300
    model = SplatModel(
        means=rng.normal(size=(n, 3)),
        quats=rng.normal(size=(n, 4)),
        scales=rng.normal(-3, 1, (n, 3)),
        opacities=rng.normal(size=n),
        sh0=rng.normal(size=(n, 1, 3)),
        shN=np.zeros((n, 0, 3)),
    )
    _, sog = _encode(model, tmp_path)
    assert "shN" not in sog.meta
    assert read_model(tmp_path / "scene.sog").shN.shape == (n, 0, 3)


@pytest.mark.parametrize("size", [256, 1024])
def test_bigger_palette_means_smaller_sh_error(model_sh3: SplatModel, tmp_path, size) -> None:
    order, sog = _encode(model_sh3, tmp_path, palette_size=size)
    assert sog.meta["shN"]["count"] <= size
    err = attribute_rmse(model_sh3.select(order), decode_sog(sog))["rmse_shN"]
    order, sog = _encode(model_sh3, tmp_path, palette_size=size * 2)
    assert attribute_rmse(model_sh3.select(order), decode_sog(sog))["rmse_shN"] < err
