"""SOG v2's per-splat encodings, both ways, as splat-transform 3.7.0 reads them.

Checked against `@playcanvas/splat-transform` (dist/index.mjs: `writeSogSource`, the v2 reader
`readSogSourceV2`):

- means: per axis `v = sign(x)·ln(1 + |x|)`, stored as 16 bits between the axis' min and max of
  `v` (low byte in `means_l`, high byte in `means_u`); decoded `x = sign(v)·(exp(|v|) − 1)`.
- quats: normalised, the largest-|.| component's index i stored as alpha 252 + i, the sign
  flipped so that component is positive, the other three (in w, x, y, z order) times sqrt(2)
  mapped from [-1, 1] to a byte; decoded the largest is sqrt(1 − Σ others²).
- opacity: the sh0 texture's alpha is sigmoid(logit)·255; decoded logit(byte / 255) with the
  probability clamped to [1e-6, 1 − 1e-6].

splat-transform truncates where these round to the nearest byte (half the error, same format).
"""

from __future__ import annotations

import numpy as np

_SQRT2 = np.sqrt(2.0)
QUAT_TAG = 252
_OTHER_COMPONENTS = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])
_OPACITY_EPS = 1e-6


def log_transform(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def inverse_log_transform(v: np.ndarray) -> np.ndarray:
    return np.sign(v) * np.expm1(np.abs(v))


def encode_means(
    means: np.ndarray,  # [N, 3] float32, world units
) -> tuple[np.ndarray, list[float], list[float]]:
    """16-bit codes [N, 3] (uint16) and the per-axis mins/maxs in log space."""
    v = log_transform(means.astype(np.float64))
    mins, maxs = v.min(axis=0), v.max(axis=0)
    span = maxs - mins
    scale = np.where(span > 0, 65535.0 / np.where(span > 0, span, 1.0), 0.0)
    codes = np.clip(np.rint((v - mins) * scale), 0, 65535).astype(np.uint16)
    return codes, mins.tolist(), maxs.tolist()


def decode_means(codes: np.ndarray, mins: list[float], maxs: list[float]) -> np.ndarray:
    lo = np.asarray(mins, np.float64)
    span = np.asarray(maxs, np.float64) - lo
    span = np.where(span != 0, span, 1.0)  # the reader's `(max - min) || 1`
    v = lo + span * (codes.astype(np.float64) / 65535.0)
    return inverse_log_transform(v).astype(np.float32)


def encode_quats(quats: np.ndarray) -> np.ndarray:
    """[N, 4] (w, x, y, z), any length > 0 -> [N, 4] uint8 texels (3 components + tag)."""
    q = quats.astype(np.float64)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    largest = np.argmax(np.abs(q), axis=1)  # first of equals, as the reference writer
    rows = np.arange(len(q))
    sign = np.where(q[rows, largest] < 0, -1.0, 1.0)
    others = np.take_along_axis(q, _OTHER_COMPONENTS[largest], axis=1) * (sign * _SQRT2)[:, None]
    out = np.empty((len(q), 4), np.uint8)
    out[:, :3] = np.clip(np.rint(255.0 * (others * 0.5 + 0.5)), 0, 255)
    out[:, 3] = QUAT_TAG + largest
    return out


def decode_quats(texels: np.ndarray) -> np.ndarray:
    """[N, 4] uint8 -> [N, 4] unit (w, x, y, z); an invalid tag decodes as identity."""
    tag = texels[:, 3].astype(np.int64)
    valid = (tag >= QUAT_TAG) & (tag <= QUAT_TAG + 3)
    largest = np.where(valid, tag - QUAT_TAG, 0)
    others = (texels[:, :3].astype(np.float64) / 255.0 * 2.0 - 1.0) / _SQRT2
    q = np.zeros((len(texels), 4))
    np.put_along_axis(q, _OTHER_COMPONENTS[largest], others, axis=1)
    rows = np.arange(len(texels))
    q[rows, largest] = np.sqrt(np.maximum(0.0, 1.0 - (others * others).sum(axis=1)))
    q[~valid] = (1.0, 0.0, 0.0, 0.0)
    return q.astype(np.float32)


def linear_opacity(logits: np.ndarray) -> np.ndarray:
    """Logit opacity [N] -> linear opacity [N] in [0, 1] (float64; clipped: exp cannot overflow)."""
    return 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -60.0, 60.0)))


def encode_opacity(logits: np.ndarray) -> np.ndarray:
    """Logits [N] -> linear opacity bytes [N]."""
    alpha = linear_opacity(logits)
    return np.clip(np.rint(alpha * 255.0), 0, 255).astype(np.uint8)


def decode_opacity(alpha_bytes: np.ndarray) -> np.ndarray:
    """Linear opacity bytes [N] -> logits [N], clamped as the reference reader does."""
    p = np.clip(alpha_bytes.astype(np.float64) / 255.0, _OPACITY_EPS, 1.0 - _OPACITY_EPS)
    return np.log(p / (1.0 - p)).astype(np.float32)
