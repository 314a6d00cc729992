"""Numba kernels of the CPU rasterizer: tile binning, forward compositing, hand-written backward.

Why numba, tiles and a hand-written backward (and not vectorised PyTorch or NVIDIA Warp):
compositing is a per-pixel, front-to-back loop with an early exit (transmittance below 1e-4),
which vectorised tensor code can only express densely (every Gaussian against every pixel:
seconds per image, see `reference_rasterizer`). Numba compiles the loop to machine code, runs
tiles in parallel (`prange`) and caches the compiled code on disk (`cache=True`), so there is no
C++ toolchain to ship; Warp's CPU backend would add a large dependency for the same loops.
Autograd cannot see inside a numba kernel, so the backward is written out, following gsplat's
CUDA kernel: same alpha clamp (0.999), same skip threshold (1/255), same exclusive stop at
T <= 1e-4, same gradient formulas. Two differences, both for a CPU:

- each tile's Gaussians are visited front to back in the backward too (not back to front): the
  transmittance is recomputed by the same multiplications as the forward (no division by
  1 - alpha to undo it), and the light behind a Gaussian is the saved final colour minus what
  has been accumulated so far;
- each Gaussian only visits the pixels of its own (opacity-aware) bounding box inside the tile,
  not the whole tile: with 2-8 px splats and 16 px tiles that is several times less work. Outside
  that box alpha < 1/255, so the result is the same.

Per-tile gradients go to one row per (tile, Gaussian) intersection and are summed afterwards,
so parallel tiles never write to the same memory. All kernels are dtype-generic: float32 in
training, float64 for gradient checks. Constants come in as a small array of the working dtype
so float32 arithmetic is not silently promoted to float64.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

# Indices into the `consts` array every kernel takes (values in the working dtype).
_ALPHA_MAX, _ALPHA_MIN, _T_MIN, _HALF, _ONE, _ZERO = range(6)
ALPHA_MAX = 0.999  # alpha clamp, as gsplat
ALPHA_MIN = 1.0 / 255.0  # a Gaussian fainter than this at a pixel is skipped, as gsplat
T_MIN = 1e-4  # a pixel stops when its transmittance would fall to this, as gsplat

# Columns of the per-intersection gradient rows.
GRAD_COLUMNS = 11  # mean2d x, y | conic a, b, c | colour r, g, b | opacity | |mean2d x|, |y|


def kernel_constants(dtype: np.dtype) -> np.ndarray:
    return np.array([ALPHA_MAX, ALPHA_MIN, T_MIN, 0.5, 1.0, 0.0], dtype=dtype)


@nb.njit(cache=True)
def bin_gaussians(
    means2d: np.ndarray,  # [N, 2] pixels
    radii: np.ndarray,  # [N, 2] int32 pixels, 0 = not visible
    order: np.ndarray,  # [M] ids of visible Gaussians, sorted near to far
    tile_w: int,
    tile_h: int,
    tiles_x: int,
    tiles_y: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-tile lists of Gaussian ids, each sorted near to far (a stable counting sort by tile).

    Returns `tile_offsets [tiles + 1]` and `flat_ids [intersections]`: tile t holds
    `flat_ids[tile_offsets[t]:tile_offsets[t + 1]]`. Tile ranges follow gsplat's `isect_tiles`.
    """
    n_tiles = tiles_x * tiles_y
    m = order.shape[0]
    rects = np.empty((m, 4), np.int64)
    counts = np.zeros(n_tiles + 1, np.int64)
    for i in range(m):
        g = order[i]
        cx = means2d[g, 0] / tile_w
        cy = means2d[g, 1] / tile_h
        rx = radii[g, 0] / tile_w
        ry = radii[g, 1] / tile_h
        x0 = min(max(0, math.floor(cx - rx)), tiles_x)
        y0 = min(max(0, math.floor(cy - ry)), tiles_y)
        x1 = min(max(0, math.ceil(cx + rx)), tiles_x)
        y1 = min(max(0, math.ceil(cy + ry)), tiles_y)
        rects[i, 0] = x0
        rects[i, 1] = y0
        rects[i, 2] = x1
        rects[i, 3] = y1
        for ty in range(y0, y1):
            for tx in range(x0, x1):
                counts[ty * tiles_x + tx + 1] += 1
    offsets = np.cumsum(counts)
    fill = offsets[:-1].copy()
    flat_ids = np.empty(offsets[-1], np.int32)
    for i in range(m):
        g = order[i]
        for ty in range(rects[i, 1], rects[i, 3]):
            for tx in range(rects[i, 0], rects[i, 2]):
                t = ty * tiles_x + tx
                flat_ids[fill[t]] = g
                fill[t] += 1
    return offsets, flat_ids


@nb.njit(inline="always")
def _row_range(my, ry, y0, y1):
    """Rows of tile [y0, y1) whose pixel centres lie within the Gaussian's y radius."""
    return max(y0, math.floor(my - ry - 0.5)), min(y1, math.ceil(my + ry + 0.5))


@nb.njit(inline="always")
def _span_params(mx, ca, cb, cc, op, alpha_min):
    """Per-Gaussian constants of `_row_span`: where sigma <= log(opacity * 255) on each row.

    Solving 0.5 a dx^2 + b dy dx + 0.5 c dy^2 = s for dx = mx - (px + 0.5) gives the row's
    centre mx + (b / a) dy and half-width sqrt(2 s / a - dy^2 (a c - b^2) / a^2).
    """
    sigma_cut = math.log(max(op, alpha_min) / alpha_min) + 1e-3
    inv_a = 1.0 / ca
    return cb * inv_a, 2.0 * sigma_cut * inv_a, (ca * cc - cb * cb) * inv_a * inv_a


@nb.njit(inline="always")
def _row_span(mx, dy, shear, width_sq, narrowing, x0, x1):
    """Columns [gx0, gx1) of one row, clipped to the tile, that may reach alpha >= 1/255.

    Exactly the pixel centres inside the ellipse; the 1e-3 added to the cut-off sigma keeps
    rounding from dropping a pixel that the exact alpha test would accept.
    """
    half_sq = width_sq - dy * dy * narrowing
    if half_sq < 0.0:
        return x0, x0
    half = math.sqrt(half_sq)
    centre = mx + shear * dy - 0.5  # in pixel-index units: pixel px has centre px + 0.5
    gx0 = max(x0, math.ceil(centre - half))
    gx1 = min(x1, math.floor(centre + half) + 1)
    return gx0, gx1


@nb.njit(inline="always")
def _row_start(dx, dy, ca, cb, cc, half):
    """sigma and exp(-sigma) at a row's first pixel, and their steps to the next pixel.

    Along a row dx falls by 1 per pixel, so sigma is a quadratic with constant second
    difference `a`: exp(-sigma) then follows by two multiplications per pixel (the classic
    incremental Gaussian) instead of one exp. The conic's entries are at most 1/eps2d, so the
    factors stay well inside float32 range.
    """
    sigma = half * (ca * dx * dx + cc * dy * dy) + cb * dx * dy
    step = half * ca - ca * dx - cb * dy  # sigma(next pixel) - sigma(this pixel)
    return sigma, step, np.exp(-sigma), np.exp(-step)


@nb.njit(parallel=True, fastmath=True, cache=True)
def rasterize_forward(
    means2d: np.ndarray,  # [N, 2]
    conics: np.ndarray,  # [N, 3] inverse 2D covariance (a, b, c)
    colors: np.ndarray,  # [N, 3]
    opacities: np.ndarray,  # [N]
    radii: np.ndarray,  # [N, 2] int32
    background: np.ndarray,  # [3]
    tile_offsets: np.ndarray,  # [tiles + 1]
    flat_ids: np.ndarray,  # [intersections]
    pix_x: np.ndarray,  # [W] pixel centres x + 0.5
    pix_y: np.ndarray,  # [H]
    tile_w: int,
    tile_h: int,
    tiles_x: int,
    consts: np.ndarray,
    out_color: np.ndarray,  # [H, W, 3] composited colour incl. background
    out_t: np.ndarray,  # [H, W] final transmittance
    out_last: np.ndarray,  # [H, W] int32 index into flat_ids of the last contributor, -1: none
) -> None:
    alpha_max = consts[_ALPHA_MAX]
    alpha_min = consts[_ALPHA_MIN]
    t_min = consts[_T_MIN]
    half = consts[_HALF]
    one = consts[_ONE]
    zero = consts[_ZERO]
    width = pix_x.shape[0]
    height = pix_y.shape[0]
    n_tiles = tile_offsets.shape[0] - 1
    for tile in nb.prange(n_tiles):
        x0 = (tile % tiles_x) * tile_w
        y0 = (tile // tiles_x) * tile_h
        x1 = min(x0 + tile_w, width)
        y1 = min(y0 + tile_h, height)
        bw = x1 - x0
        bh = y1 - y0
        trans = np.full((bh, bw), one)
        acc = np.full((bh, bw, 3), zero)
        last = np.full((bh, bw), -1, np.int32)
        n_active = bh * bw  # a finished pixel keeps its transmittance negated
        for j in range(tile_offsets[tile], tile_offsets[tile + 1]):
            g = flat_ids[j]
            mx = means2d[g, 0]
            my = means2d[g, 1]
            ca = conics[g, 0]
            cb = conics[g, 1]
            cc = conics[g, 2]
            op = opacities[g]
            cr = colors[g, 0]
            cg = colors[g, 1]
            cbl = colors[g, 2]
            shear, width_sq, narrowing = _span_params(mx, ca, cb, cc, op, alpha_min)
            step_ratio = np.exp(-ca)
            gy0, gy1 = _row_range(my, radii[g, 1], y0, y1)
            for py in range(gy0, gy1):
                ly = py - y0
                dy = my - pix_y[py]
                gx0, gx1 = _row_span(mx, dy, shear, width_sq, narrowing, x0, x1)
                if gx0 >= gx1:
                    continue
                sigma_next, step, vis_next, ratio = _row_start(
                    mx - pix_x[gx0], dy, ca, cb, cc, half
                )
                for px in range(gx0, gx1):
                    sigma = sigma_next
                    vis = vis_next
                    sigma_next += step
                    step += ca
                    vis_next *= ratio
                    ratio *= step_ratio
                    lx = px - x0
                    t = trans[ly, lx]
                    if t < zero:
                        continue
                    alpha = min(alpha_max, op * vis)
                    if sigma < zero or alpha < alpha_min:
                        continue
                    next_t = t * (one - alpha)
                    if next_t <= t_min:
                        trans[ly, lx] = -t
                        n_active -= 1
                        continue
                    w = alpha * t
                    acc[ly, lx, 0] += w * cr
                    acc[ly, lx, 1] += w * cg
                    acc[ly, lx, 2] += w * cbl
                    trans[ly, lx] = next_t
                    last[ly, lx] = j
            if n_active == 0:
                break
        for ly in range(bh):
            for lx in range(bw):
                t = abs(trans[ly, lx])
                out_t[y0 + ly, x0 + lx] = t
                out_last[y0 + ly, x0 + lx] = last[ly, lx]
                for k in range(3):
                    out_color[y0 + ly, x0 + lx, k] = acc[ly, lx, k] + t * background[k]


@nb.njit(parallel=True, fastmath=True, cache=True)
def rasterize_backward(
    means2d: np.ndarray,  # [N, 2]
    conics: np.ndarray,  # [N, 3]
    colors: np.ndarray,  # [N, 3]
    opacities: np.ndarray,  # [N]
    radii: np.ndarray,  # [N, 2]
    tile_offsets: np.ndarray,
    flat_ids: np.ndarray,
    pix_x: np.ndarray,
    pix_y: np.ndarray,
    tile_w: int,
    tile_h: int,
    tiles_x: int,
    consts: np.ndarray,
    out_color: np.ndarray,  # [H, W, 3] from the forward
    out_t: np.ndarray,  # [H, W]
    out_last: np.ndarray,  # [H, W]
    grad_color: np.ndarray,  # [H, W, 3] dL/d(colour image)
    grad_alpha: np.ndarray,  # [H, W] dL/d(alpha image)
    grads: np.ndarray,  # [intersections, GRAD_COLUMNS] output, one row per intersection
) -> None:
    alpha_max = consts[_ALPHA_MAX]
    alpha_min = consts[_ALPHA_MIN]
    half = consts[_HALF]
    one = consts[_ONE]
    zero = consts[_ZERO]
    width = pix_x.shape[0]
    height = pix_y.shape[0]
    n_tiles = tile_offsets.shape[0] - 1
    for tile in nb.prange(n_tiles):
        start = tile_offsets[tile]
        x0 = (tile % tiles_x) * tile_w
        y0 = (tile // tiles_x) * tile_h
        x1 = min(x0 + tile_w, width)
        y1 = min(y0 + tile_h, height)
        bh = y1 - y0
        bw = x1 - x0
        last = out_last[y0:y1, x0:x1]
        stop = last.max() + 1  # no pixel of this tile saw a Gaussian after this
        if stop <= start:
            continue
        trans = np.full((bh, bw), one)
        # dL/dalpha_i = T_i (g . c_i) - (g . light behind i + gA T_final) / (1 - alpha_i), and
        # g . light behind i = g . C_final - g . (colour accumulated up to i): so one scalar
        # per pixel (`seen`) replaces a running colour, against a per-pixel constant (`total`).
        total = np.empty((bh, bw), trans.dtype)
        seen = np.full((bh, bw), zero)
        for ly in range(bh):
            for lx in range(bw):
                py = y0 + ly
                px = x0 + lx
                total[ly, lx] = (
                    grad_color[py, px, 0] * out_color[py, px, 0]
                    + grad_color[py, px, 1] * out_color[py, px, 1]
                    + grad_color[py, px, 2] * out_color[py, px, 2]
                    - grad_alpha[py, px] * out_t[py, px]
                )
        for j in range(start, stop):
            g = flat_ids[j]
            mx = means2d[g, 0]
            my = means2d[g, 1]
            ca = conics[g, 0]
            cb = conics[g, 1]
            cc = conics[g, 2]
            op = opacities[g]
            cr = colors[g, 0]
            cg = colors[g, 1]
            cbl = colors[g, 2]
            v_mx = zero
            v_my = zero
            v_ca = zero
            v_cb = zero
            v_cc = zero
            v_r = zero
            v_g = zero
            v_b = zero
            v_op = zero
            abs_mx = zero
            abs_my = zero
            shear, width_sq, narrowing = _span_params(mx, ca, cb, cc, op, alpha_min)
            step_ratio = np.exp(-ca)
            gy0, gy1 = _row_range(my, radii[g, 1], y0, y1)
            for py in range(gy0, gy1):
                ly = py - y0
                dy = my - pix_y[py]
                gx0, gx1 = _row_span(mx, dy, shear, width_sq, narrowing, x0, x1)
                if gx0 >= gx1:
                    continue
                sigma_next, step, vis_next, ratio = _row_start(
                    mx - pix_x[gx0], dy, ca, cb, cc, half
                )
                for px in range(gx0, gx1):
                    sigma = sigma_next
                    vis = vis_next
                    sigma_next += step
                    step += ca
                    vis_next *= ratio
                    ratio *= step_ratio
                    lx = px - x0
                    if j > last[ly, lx]:
                        continue
                    dx = mx - pix_x[px]
                    alpha = min(alpha_max, op * vis)
                    if sigma < zero or alpha < alpha_min:
                        continue
                    t = trans[ly, lx]
                    w = alpha * t
                    g_r = grad_color[py, px, 0]
                    g_g = grad_color[py, px, 1]
                    g_b = grad_color[py, px, 2]
                    v_r += w * g_r
                    v_g += w * g_g
                    v_b += w * g_b
                    g_dot_c = g_r * cr + g_g * cg + g_b * cbl
                    seen_now = seen[ly, lx] + w * g_dot_c
                    seen[ly, lx] = seen_now
                    v_alpha = t * g_dot_c - (total[ly, lx] - seen_now) / (one - alpha)
                    trans[ly, lx] = t * (one - alpha)
                    if op * vis <= alpha_max:
                        v_sigma = -op * vis * v_alpha
                        v_op += vis * v_alpha
                        v_ca += half * dx * dx * v_sigma
                        v_cb += dx * dy * v_sigma
                        v_cc += half * dy * dy * v_sigma
                        vx = v_sigma * (ca * dx + cb * dy)
                        vy = v_sigma * (cb * dx + cc * dy)
                        v_mx += vx
                        v_my += vy
                        abs_mx += abs(vx)
                        abs_my += abs(vy)
            grads[j, 0] = v_mx
            grads[j, 1] = v_my
            grads[j, 2] = v_ca
            grads[j, 3] = v_cb
            grads[j, 4] = v_cc
            grads[j, 5] = v_r
            grads[j, 6] = v_g
            grads[j, 7] = v_b
            grads[j, 8] = v_op
            grads[j, 9] = abs_mx
            grads[j, 10] = abs_my


@nb.njit(cache=True)
def sum_intersection_grads(
    flat_ids: np.ndarray,  # [intersections]
    grads: np.ndarray,  # [intersections, GRAD_COLUMNS]
    out: np.ndarray,  # [N, GRAD_COLUMNS], zeroed
) -> None:
    for j in range(flat_ids.shape[0]):
        g = flat_ids[j]
        for k in range(grads.shape[1]):
            out[g, k] += grads[j, k]
