from __future__ import annotations

import numpy as np

from spaceport_compress import attributes


def test_means_round_trip_within_half_a_step() -> None:
    rng = np.random.default_rng(0)
    means = np.r_[rng.normal(0, 30, (5000, 3)), [[0, 0, 0], [500, -400, 3]]].astype(np.float32)
    codes, mins, maxs = attributes.encode_means(means)
    back = attributes.decode_means(codes, mins, maxs)
    step = (np.asarray(maxs) - np.asarray(mins)) / 65535
    v_err = np.abs(
        attributes.log_transform(back.astype(np.float64)) - attributes.log_transform(means)
    )
    assert (v_err <= step / 2 + 1e-6).all()
    assert codes.min() == 0 and codes.max() == 65535


def test_means_on_a_flat_axis_decode_exactly() -> None:
    means = np.c_[np.linspace(-5, 5, 100), np.full(100, 2.5), np.zeros(100)].astype(np.float32)
    codes, mins, maxs = attributes.encode_means(means)
    back = attributes.decode_means(codes, mins, maxs)
    np.testing.assert_allclose(back[:, 1:], means[:, 1:], atol=1e-6)


def test_quats_round_trip_any_length_and_sign() -> None:
    rng = np.random.default_rng(1)
    q = rng.normal(size=(20000, 4)) * rng.uniform(0.1, 5, (20000, 1))
    q[:4] = [[1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 0, 2], [-0.5, 0.5, -0.5, 0.5]]
    texels = attributes.encode_quats(q)
    assert set(np.unique(texels[:, 3])) <= {252, 253, 254, 255}
    back = attributes.decode_quats(texels).astype(np.float64)
    unit = q / np.linalg.norm(q, axis=1, keepdims=True)
    same = np.abs((unit * back).sum(axis=1))  # |cos| of half the angle between them
    assert same.min() > 1 - 1e-4
    np.testing.assert_allclose(np.linalg.norm(back, axis=1), 1.0, atol=1e-6)
    # the stored largest component decodes positive: a rotation and its negation are one
    assert (back[np.arange(len(back)), texels[:, 3].astype(int) - 252] >= 0).all()


def test_quat_with_bad_tag_is_identity() -> None:
    texels = np.array([[10, 20, 30, 7]], np.uint8)
    np.testing.assert_array_equal(attributes.decode_quats(texels), [[1, 0, 0, 0]])


def test_opacity_round_trip() -> None:
    logits = np.linspace(-12, 12, 1001).astype(np.float32)
    back = attributes.decode_opacity(attributes.encode_opacity(logits))
    sig = lambda x: 1 / (1 + np.exp(-x.astype(np.float64)))  # noqa: E731
    assert np.abs(sig(back) - sig(logits)).max() <= 0.5 / 255 + 1e-6
    assert np.isfinite(back).all()
