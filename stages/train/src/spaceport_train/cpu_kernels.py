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
- each Gaussian only visits the pixels of its own (opacity-aware) ellipse inside the tile,
  row by row, not the whole tile: with 2-8 px splats that is several times less work. Outside
  it alpha < 1/255, so the result is the same;
- a row's pixels are composited a vector at a time (`LANES`, `BACK_LANES`): sigma from the
  conic's quadratic and exp(-sigma) from a mul/add polynomial (`exp_neg`, float32 to 1.5e-6;
  there is no vectorised exp without SVML), every test a mask rather than a branch, and the
  tile's per-pixel state in one buffer of planes at fixed offsets so LLVM can prove the loads
  and stores independent. The forward and backward compute alpha and T (T - alpha T) the
  same way, so the backward retraces the forward exactly.

Per-tile gradients go to one row per (tile, Gaussian) intersection and are gathered per
Gaussian afterwards (binning records where each Gaussian's rows are), so parallel tasks never
write to the same memory; binning itself is a parallel, stable counting sort. Tiles are handed
to the threads in `tile_schedule`'s order, so each thread gets an equal share of the expensive
ones. All kernels are dtype-generic: float32 in training, float64 for gradient checks. Constants
come in as a small array of the working dtype so float32 arithmetic is not silently promoted to
float64.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
from numba.extending import overload

# Indices into the `consts` array every kernel takes (values in the working dtype).
_ALPHA_MAX, _ALPHA_MIN, _T_MIN, _HALF, _ONE, _ZERO = range(6)
ALPHA_MAX = 0.999  # alpha clamp, as gsplat
ALPHA_MIN = 1.0 / 255.0  # a Gaussian fainter than this at a pixel is skipped, as gsplat
T_MIN = 1e-4  # a pixel stops when its transmittance would fall to this, as gsplat

# Columns of the per-intersection gradient rows.
GRAD_COLUMNS = 11  # mean2d x, y | conic a, b, c | colour r, g, b | opacity | |mean2d x|, |y|


def kernel_constants(dtype: np.dtype) -> np.ndarray:
    return np.array([ALPHA_MAX, ALPHA_MIN, T_MIN, 0.5, 1.0, 0.0], dtype=dtype)


def depth_order(
    radii: np.ndarray,  # [N, 2] int32, 0 = not visible
    depths: np.ndarray,  # [N]
) -> np.ndarray:  # [M] int32 ids of the visible Gaussians, near to far, ties by id
    """The visible Gaussians sorted by depth, stably (equal depths, e.g. a densification's
    duplicates, keep id order, as gsplat's radix sort does).

    float32: one sort of 64-bit keys (the depth's bits made order-preserving, then the id), a
    tenth of a stable argsort's time; float64 (gradient checks) takes the stable argsort.
    """
    visible = np.flatnonzero((radii > 0).all(axis=1))
    depth = depths[visible]
    if depth.dtype != np.float32:
        return visible[np.argsort(depth, kind="stable")].astype(np.int32)
    bits = depth.view(np.uint32)
    # IEEE floats order like their bits once negatives are flipped whole and positives' sign set
    flip = np.where(bits >> np.uint32(31), np.uint32(0xFFFFFFFF), np.uint32(0x80000000))
    keys = ((bits ^ flip).astype(np.uint64) << np.uint64(32)) | visible.astype(np.uint64)
    return (np.sort(keys) & np.uint64(0xFFFFFFFF)).astype(np.int32)


@nb.njit(parallel=True, cache=True)
def bin_gaussians(
    means2d: np.ndarray,  # [N, 2] pixels
    radii: np.ndarray,  # [N, 2] int32 pixels, 0 = not visible
    order: np.ndarray,  # [M] ids of visible Gaussians, sorted near to far
    tile_w: int,
    tile_h: int,
    tiles_x: int,
    tiles_y: int,
    n_threads: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-tile lists of Gaussian ids, each sorted near to far (a stable counting sort by tile).

    Returns `tile_offsets [tiles + 1]` and `flat_ids [intersections]`: tile t holds
    `flat_ids[tile_offsets[t]:tile_offsets[t + 1]]`; and `slot_offsets [M + 1]`, `slots
    [intersections]`: the Gaussian `order[i]` is at the intersections
    `slots[slot_offsets[i]:slot_offsets[i + 1]]`. Tile ranges follow gsplat's `isect_tiles`.
    The Gaussians are cut into chunks counted and filled in parallel; each chunk writes after
    the earlier chunks' entries of every tile, which keeps the sort stable.
    """
    n_tiles = tiles_x * tiles_y
    m = order.shape[0]
    rects = np.empty((m, 4), np.int32)
    areas = np.empty(m + 1, np.int64)
    areas[0] = 0
    for i in nb.prange(m):
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
        areas[i + 1] = (x1 - x0) * (y1 - y0)
    slot_offsets = np.cumsum(areas)
    n_chunks = 4 * n_threads
    chunk = (m + n_chunks - 1) // n_chunks
    counts = np.zeros((n_chunks, n_tiles), np.int64)
    for c in nb.prange(n_chunks):
        for i in range(c * chunk, min(m, (c + 1) * chunk)):
            for ty in range(rects[i, 1], rects[i, 3]):
                for tx in range(rects[i, 0], rects[i, 2]):
                    counts[c, ty * tiles_x + tx] += 1
    tile_offsets = np.zeros(n_tiles + 1, np.int64)
    fill = np.empty((n_chunks, n_tiles), np.int64)  # each chunk's first entry in each tile
    for t in range(n_tiles):
        at = tile_offsets[t]
        for c in range(n_chunks):
            fill[c, t] = at
            at += counts[c, t]
        tile_offsets[t + 1] = at
    flat_ids = np.empty(tile_offsets[n_tiles], np.int32)
    slots = np.empty(tile_offsets[n_tiles], np.int32)
    for c in nb.prange(n_chunks):
        for i in range(c * chunk, min(m, (c + 1) * chunk)):
            g = order[i]
            k = slot_offsets[i]
            for ty in range(rects[i, 1], rects[i, 3]):
                for tx in range(rects[i, 0], rects[i, 2]):
                    t = ty * tiles_x + tx
                    j = fill[c, t]
                    fill[c, t] = j + 1
                    flat_ids[j] = g
                    slots[k] = j
                    k += 1
    return tile_offsets, flat_ids, slot_offsets, slots


@nb.njit(cache=True)
def tile_schedule(tile_offsets: np.ndarray, n_threads: int) -> np.ndarray:  # [tiles]
    """Tiles in the order the parallel loops take them: numba splits a `prange` into one
    contiguous block per thread, so the tiles, sorted by their number of Gaussians, are dealt
    out in turn, one block's worth to each thread."""
    n_tiles = tile_offsets.shape[0] - 1
    by_cost = np.argsort(tile_offsets[:-1] - tile_offsets[1:])  # most Gaussians first
    schedule = np.empty(n_tiles, np.int64)
    at = 0
    for r in range(n_threads):
        for k in range(r, n_tiles, n_threads):
            schedule[at] = by_cost[k]
            at += 1
    return schedule


LANES = 8  # pixels of a row the forward composites together: one 256-bit vector of float32
BACK_LANES = 16  # the backward's (measured faster than 8 there, slower in the forward)
# A tile's per-pixel state: planes _PLANE elements apart in one buffer, each holding up to
# _PIXELS_MAX pixels (the tile's rows padded by a vector), at these offsets.
_PIXELS_MAX = 2048
_PIXEL_MASK = np.uintp(_PIXELS_MAX - 1)
_PLANE = _PIXELS_MAX + 64  # not a multiple of 4 KiB, so the planes do not share cache sets
_R, _G, _B = (np.uintp(i * _PLANE) for i in range(1, 4))
_PLANES = 5
# the backward's planes: T, then these, then the last contributor
_SEEN, _TOTAL, _GR, _GG, _GB = (np.uintp(i * _PLANE) for i in range(1, 6))
_BACK_LAST = 6
_BACK_SUMS = 7  # then the current Gaussian's per-lane sums, `_SUMS` rows of BACK_LANES
_PLANES_BACK = 8
_SUMS = 11
(
    _SUM_R, _SUM_G, _SUM_B, _SUM_Q, _SUM_QDX, _SUM_QDX2, _SUM_QDY, _SUM_QDXDY, _SUM_QDY2,
    _SUM_ABS_X, _SUM_ABS_Y,
) = (np.uintp(i * BACK_LANES) for i in range(_SUMS))  # fmt: skip


def check_tile(tile_w: int, tile_h: int) -> None:
    """The kernels keep a tile's pixels, rows padded by a vector, in planes of _PIXELS_MAX."""
    if (tile_w + BACK_LANES) * tile_h > _PIXELS_MAX:
        raise ValueError(f"kernel tile {tile_w}x{tile_h} is too large for the tile buffers")


@nb.njit(inline="always")
def _lane_sum(state, at):
    total = state[at]
    for lane in range(1, BACK_LANES):
        total += state[at + np.uintp(lane)]
    return total


# exp(-x) in float32 as (exp(-x/8))^8: a degree-6 polynomial on [0, 0.75] (Chebyshev fit) and
# three squarings, mul/add only, so LLVM vectorises it (there is no vector exp without SVML).
_EXP_C = tuple(
    np.float32(c)
    for c in (
        1.0, -0.9999997019767761, 0.49999353289604187, -0.1666141152381897,
        0.04146229103207588, -0.007919646799564362, 0.0009593734284862876,
    )
)  # fmt: skip
_EXP_X_MAX = np.float32(6.0)  # exp(-6) = 0.0025 < 1/255: every x beyond is skipped anyway
_EXP_EIGHTH = np.float32(0.125)
_EXP_ZERO = np.float32(0.0)


def exp_neg(x):
    """exp(-x), for x >= 0 where alpha can pass the 1/255 threshold (x clamped to [0, 6])."""
    return math.exp(-x)


@overload(exp_neg, inline="always")
def _exp_neg_impl(x):
    if x != nb.types.float32:  # float64 (gradient checks): the exact exp
        return lambda x: math.exp(-x)
    c0, c1, c2, c3, c4, c5, c6 = _EXP_C

    def poly(x):
        y = min(max(x, _EXP_ZERO), _EXP_X_MAX) * _EXP_EIGHTH
        e = c0 + y * (c1 + y * (c2 + y * (c3 + y * (c4 + y * (c5 + y * c6)))))
        e = e * e
        e = e * e
        return e * e

    return poly


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


@nb.njit(parallel=True, fastmath=True, error_model="numpy", cache=True)
def rasterize_forward(
    means2d: np.ndarray,  # [N, 2]
    conics: np.ndarray,  # [N, 3] inverse 2D covariance (a, b, c)
    colors: np.ndarray,  # [N, 3]
    opacities: np.ndarray,  # [N]
    radii: np.ndarray,  # [N, 2] int32
    background: np.ndarray,  # [3]
    tile_offsets: np.ndarray,  # [tiles + 1]
    flat_ids: np.ndarray,  # [intersections]
    schedule: np.ndarray,  # [tiles] from `tile_schedule`
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
    for k_tile in nb.prange(schedule.shape[0]):
        tile = schedule[k_tile]
        x0 = (tile % tiles_x) * tile_w
        y0 = (tile // tiles_x) * tile_h
        x1 = min(x0 + tile_w, width)
        y1 = min(y0 + tile_h, height)
        bw = x1 - x0
        bh = y1 - y0
        stride = bw + LANES  # a row's last lanes may run past the tile: padding, never read out
        # The tile's pixels in one buffer, a plane per quantity at fixed offsets (so LLVM sees
        # the planes cannot overlap and vectorises the lanes): T (a finished pixel keeps its T
        # negated), the accumulated r, g, b, and the last contributor (int32 bits).
        state = np.empty(_PLANES * _PLANE, consts.dtype)
        state[: bh * stride] = one
        state[_PLANE : 4 * _PLANE] = zero
        ints = state.view(np.int32)
        last_at = np.uintp(4 * _PLANE * (state.itemsize // 4))  # the last plane, in int32s
        ints[last_at : last_at + bh * stride] = -1
        row_active = np.full(bh, bw, np.int32)  # unfinished pixels per row: full rows are skipped
        n_active = bh * bw
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
            qa = half * ca
            j32 = np.int32(j)
            gy0, gy1 = _row_range(my, radii[g, 1], y0, y1)
            for py in range(gy0, gy1):
                ly = py - y0
                if row_active[ly] == 0:
                    continue
                dy = my - pix_y[py]
                gx0, gx1 = _row_span(mx, dy, shear, width_sq, narrowing, x0, x1)
                qb = cb * dy
                qc = half * cc * dy * dy
                n_done = 0
                for c0 in range(gx0, gx1, LANES):  # sigma = (qa dx + qb) dx + qc, dx = mx - px
                    base = np.uintp(ly * stride + c0 - x0)
                    dx0 = mx - pix_x[c0]
                    n_lanes = gx1 - c0
                    for lane in range(LANES):
                        k = base + np.uintp(lane)
                        dx = dx0 - np.float32(lane)
                        sigma = (qa * dx + qb) * dx + qc
                        alpha = min(alpha_max, op * exp_neg(sigma))
                        t = state[k]
                        ok = (lane < n_lanes) & (sigma >= zero) & (alpha >= alpha_min) & (t > zero)
                        w = alpha * t
                        next_t = t - w
                        done = ok & (next_t <= t_min)
                        add = ok & (next_t > t_min)
                        w = w if add else zero
                        state[k + _R] += w * cr
                        state[k + _G] += w * cg
                        state[k + _B] += w * cbl
                        state[k] = -t if done else t - w
                        ints[k + last_at] = j32 if add else ints[k + last_at]
                        n_done += np.int32(done)
                row_active[ly] -= n_done
                n_active -= n_done
            if n_active == 0:
                break
        for ly in range(bh):
            for lx in range(bw):
                k = ly * stride + lx
                t = abs(state[k])
                out_t[y0 + ly, x0 + lx] = t
                out_last[y0 + ly, x0 + lx] = ints[k + last_at]
                out_color[y0 + ly, x0 + lx, 0] = state[k + _R] + t * background[0]
                out_color[y0 + ly, x0 + lx, 1] = state[k + _G] + t * background[1]
                out_color[y0 + ly, x0 + lx, 2] = state[k + _B] + t * background[2]


@nb.njit(parallel=True, fastmath=True, error_model="numpy", cache=True)
def rasterize_backward(
    means2d: np.ndarray,  # [N, 2]
    conics: np.ndarray,  # [N, 3]
    colors: np.ndarray,  # [N, 3]
    opacities: np.ndarray,  # [N]
    radii: np.ndarray,  # [N, 2]
    tile_offsets: np.ndarray,
    flat_ids: np.ndarray,
    schedule: np.ndarray,
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
    grad_background: np.ndarray,  # [tiles, 3] output, per tile
) -> None:
    alpha_max = consts[_ALPHA_MAX]
    alpha_min = consts[_ALPHA_MIN]
    half = consts[_HALF]
    one = consts[_ONE]
    zero = consts[_ZERO]
    width = pix_x.shape[0]
    height = pix_y.shape[0]
    for k_tile in nb.prange(schedule.shape[0]):
        tile = schedule[k_tile]
        start = tile_offsets[tile]
        end = tile_offsets[tile + 1]
        x0 = (tile % tiles_x) * tile_w
        y0 = (tile // tiles_x) * tile_h
        x1 = min(x0 + tile_w, width)
        y1 = min(y0 + tile_h, height)
        bh = y1 - y0
        bw = x1 - x0
        # dL/dalpha_i = T_i (g . c_i) - (g . light behind i + gA T_final) / (1 - alpha_i), and
        # g . light behind i = g . C_final - g . (colour accumulated up to i): so one scalar
        # per pixel (`seen`) replaces a running colour, against a per-pixel constant (`total`).

        # The tile's per-pixel state in one buffer of planes, as in the forward: T, `seen`,
        # `total`, the colour gradient r, g, b, and the last contributor (int32 bits).
        stride = bw + BACK_LANES
        state = np.empty(_PLANES_BACK * _PLANE, consts.dtype)
        ints = state.view(np.int32)
        last_at = np.uintp(_BACK_LAST * _PLANE * (state.itemsize // 4))
        acc_at = np.uintp(_BACK_SUMS * _PLANE)
        row_last = np.full(bh, -1, np.int32)  # a row is done once j passes all its pixels' last
        stop = start  # no pixel of this tile saw a Gaussian from here on
        bg_r = zero
        bg_g = zero
        bg_b = zero
        for ly in range(bh):
            py = y0 + ly
            for lx in range(stride):
                k = np.uintp(ly * stride + lx)
                if lx >= bw:  # padding lanes: finite values, never a contributor
                    for plane in range(_BACK_LAST):
                        state[k + np.uintp(plane * _PLANE)] = zero
                    ints[k + last_at] = -1
                    continue
                px = x0 + lx
                g_r = grad_color[py, px, 0]
                g_g = grad_color[py, px, 1]
                g_b = grad_color[py, px, 2]
                t_final = out_t[py, px]
                bg_r += g_r * t_final
                bg_g += g_g * t_final
                bg_b += g_b * t_final
                state[k] = one
                state[k + _SEEN] = zero
                state[k + _TOTAL] = (
                    g_r * out_color[py, px, 0]
                    + g_g * out_color[py, px, 1]
                    + g_b * out_color[py, px, 2]
                    - grad_alpha[py, px] * t_final
                )
                state[k + _GR] = g_r
                state[k + _GG] = g_g
                state[k + _GB] = g_b
                ints[k + last_at] = out_last[py, px]
                row_last[ly] = max(row_last[ly], out_last[py, px])
        for ly in range(bh):
            stop = max(stop, row_last[ly] + 1)
        grad_background[tile, 0] = bg_r
        grad_background[tile, 1] = bg_g
        grad_background[tile, 2] = bg_b
        for j in range(stop, end):
            for col in range(GRAD_COLUMNS):
                grads[j, col] = zero
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
            # With q = exp(-sigma) dL/dalpha (where alpha is not clamped), dL/dsigma = -op q and
            # dL/dopacity = sum q; sigma's partials are polynomials in dx at a row's fixed dy,
            # so per row only sum q, q dx, q dx^2 are needed (and the absgrad terms).
            for a in range(acc_at, acc_at + np.uintp(_SUMS * BACK_LANES)):
                state[a] = zero
            shear, width_sq, narrowing = _span_params(mx, ca, cb, cc, op, alpha_min)
            qa = half * ca
            j32 = np.int32(j)
            gy0, gy1 = _row_range(my, radii[g, 1], y0, y1)
            for py in range(gy0, gy1):
                ly = py - y0
                if j > row_last[ly]:
                    continue
                dy = my - pix_y[py]
                gx0, gx1 = _row_span(mx, dy, shear, width_sq, narrowing, x0, x1)
                qb = cb * dy
                qc = half * cc * dy * dy
                cdy = cc * dy
                for c0 in range(gx0, gx1, BACK_LANES):
                    # the mask changes nothing (base < _PIXELS_MAX) but tells LLVM the pixel
                    # planes end before the sums: without it, it does not vectorise the lanes
                    base = np.uintp(ly * stride + c0 - x0) & _PIXEL_MASK
                    dx0 = mx - pix_x[c0]
                    n_lanes = gx1 - c0
                    for lane in range(BACK_LANES):
                        k = base + np.uintp(lane)
                        a = acc_at + np.uintp(lane)
                        dx = dx0 - np.float32(lane)
                        sigma = (qa * dx + qb) * dx + qc
                        vis = exp_neg(sigma)
                        raw = op * vis
                        alpha = min(alpha_max, raw)
                        ok = (
                            (lane < n_lanes)
                            & (sigma >= zero)
                            & (alpha >= alpha_min)
                            & (j32 <= ints[k + last_at])
                        )
                        t = state[k]
                        w = alpha * t if ok else zero
                        g_r = state[k + _GR]
                        g_g = state[k + _GG]
                        g_b = state[k + _GB]
                        g_dot_c = g_r * cr + g_g * cg + g_b * cbl
                        seen_now = state[k + _SEEN] + w * g_dot_c
                        state[k + _SEEN] = seen_now
                        v_alpha = t * g_dot_c - (state[k + _TOTAL] - seen_now) / (one - alpha)
                        state[k] = t - w
                        q = vis * v_alpha if ok & (raw <= alpha_max) else zero
                        q_dx = q * dx
                        q_dy = q * dy
                        state[a + _SUM_R] += w * g_r
                        state[a + _SUM_G] += w * g_g
                        state[a + _SUM_B] += w * g_b
                        state[a + _SUM_Q] += q
                        state[a + _SUM_QDX] += q_dx
                        state[a + _SUM_QDX2] += q_dx * dx
                        state[a + _SUM_QDY] += q_dy
                        state[a + _SUM_QDXDY] += q_dx * dy
                        state[a + _SUM_QDY2] += q_dy * dy
                        state[a + _SUM_ABS_X] += abs(ca * q_dx + qb * q)
                        state[a + _SUM_ABS_Y] += abs(cb * q_dx + cdy * q)
            v_r = _lane_sum(state, acc_at + _SUM_R)
            v_g = _lane_sum(state, acc_at + _SUM_G)
            v_b = _lane_sum(state, acc_at + _SUM_B)
            v_op = _lane_sum(state, acc_at + _SUM_Q)
            v_dx = _lane_sum(state, acc_at + _SUM_QDX)
            v_dx2 = _lane_sum(state, acc_at + _SUM_QDX2)
            v_dy = _lane_sum(state, acc_at + _SUM_QDY)
            v_dydx = _lane_sum(state, acc_at + _SUM_QDXDY)
            v_dy2 = _lane_sum(state, acc_at + _SUM_QDY2)
            abs_mx = _lane_sum(state, acc_at + _SUM_ABS_X)
            abs_my = _lane_sum(state, acc_at + _SUM_ABS_Y)
            grads[j, 0] = -op * (ca * v_dx + cb * v_dy)  # dsigma/dmx = a dx + b dy
            grads[j, 1] = -op * (cb * v_dx + cc * v_dy)
            grads[j, 2] = -op * half * v_dx2  # dsigma/da = dx^2 / 2
            grads[j, 3] = -op * v_dydx
            grads[j, 4] = -op * half * v_dy2
            grads[j, 5] = v_r
            grads[j, 6] = v_g
            grads[j, 7] = v_b
            grads[j, 8] = v_op
            grads[j, 9] = op * abs_mx
            grads[j, 10] = op * abs_my


@nb.njit(parallel=True, cache=True)
def gather_gaussian_grads(
    order: np.ndarray,  # [M] from `depth_order`
    slot_offsets: np.ndarray,  # [M + 1] from `bin_gaussians`
    slots: np.ndarray,  # [intersections]
    grads: np.ndarray,  # [intersections, GRAD_COLUMNS]
    out: np.ndarray,  # [N, GRAD_COLUMNS] written: zero for Gaussians not in `order`
) -> None:
    for g in nb.prange(out.shape[0]):
        for col in range(GRAD_COLUMNS):
            out[g, col] = 0
    for i in nb.prange(order.shape[0]):
        g = order[i]
        for s in range(slot_offsets[i], slot_offsets[i + 1]):
            j = slots[s]
            for col in range(GRAD_COLUMNS):
                out[g, col] += grads[j, col]
