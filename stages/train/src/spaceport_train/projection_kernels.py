"""Numba kernels of the EWA projection and its hand-written backward, parallel over Gaussians.

The maths is gsplat's (`fully_fused_projection`: normalised quaternion to rotation, camera-frame
covariance M M^T with M = R_cam R_gauss S, the perspective Jacobian taken at a point clamped to
1.3x the field of view, the eps2d blur, the conic as the inverse 2D covariance, and the
antialiasing opacity compensation); the radii follow gsplat's CUDA kernel (opacity-aware box,
zero for Gaussians fainter than 1/255 or off-image). As vectorised PyTorch with autograd it
cost about a quarter of a 50k-Gaussian step on one thread; here each Gaussian is a few hundred
flops on every core. The backward is the chain rule of the same steps, written out; the tests
check it against autograd through the PyTorch version of these formulas.

Arithmetic is float64 inside, whatever the storage dtype.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

RADIUS_SIGMA_MAX = 3.33  # gsplat's cap on the opacity-aware extent, in sigma


@nb.njit(inline="always")
def _rotmat(w, x, y, z):
    return (
        1.0 - 2.0 * (y * y + z * z),
        2.0 * (x * y - w * z),
        2.0 * (x * z + w * y),
        2.0 * (x * y + w * z),
        1.0 - 2.0 * (x * x + z * z),
        2.0 * (y * z - w * x),
        2.0 * (x * z - w * y),
        2.0 * (y * z + w * x),
        1.0 - 2.0 * (x * x + y * y),
    )


@nb.njit(inline="always")
def _jm_column(v, rg, col, s, fx, fy, rz, uc, vc):
    """Column `col` of the Jacobian's two rows times M: (J M)[0, col], (J M)[1, col]."""
    m0 = (v[0, 0] * rg[col] + v[0, 1] * rg[3 + col] + v[0, 2] * rg[6 + col]) * s
    m1 = (v[1, 0] * rg[col] + v[1, 1] * rg[3 + col] + v[1, 2] * rg[6 + col]) * s
    m2 = (v[2, 0] * rg[col] + v[2, 1] * rg[3 + col] + v[2, 2] * rg[6 + col]) * s
    return fx * rz * (m0 - uc * m2), fy * rz * (m1 - vc * m2)


@nb.njit(parallel=True, cache=True)
def project_forward(
    means: np.ndarray,  # [N, 3] world
    quats: np.ndarray,  # [N, 4] (w, x, y, z), unnormalised
    scales: np.ndarray,  # [N, 3] linear
    opacities: np.ndarray,  # [N]
    viewmats: np.ndarray,  # [C, 4, 4] cam_from_world
    Ks: np.ndarray,  # [C, 3, 3]
    width: int,
    height: int,
    eps2d: float,
    near_plane: float,
    far_plane: float,
    radius_clip: float,
    antialiased: bool,
    alpha_min: float,
    out_means2d: np.ndarray,  # [C, N, 2]
    out_conics: np.ndarray,  # [C, N, 3]
    out_opacities: np.ndarray,  # [C, N]
    out_depths: np.ndarray,  # [C, N]
    out_radii: np.ndarray,  # [C, N, 2] int32
) -> None:
    n = means.shape[0]
    n_cams = viewmats.shape[0]
    for i in nb.prange(n):
        qw = float(quats[i, 0])
        qx = float(quats[i, 1])
        qy = float(quats[i, 2])
        qz = float(quats[i, 3])
        inv_norm = 1.0 / max(math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz), 1e-12)
        rg = _rotmat(qw * inv_norm, qx * inv_norm, qy * inv_norm, qz * inv_norm)
        s0 = float(scales[i, 0])
        s1 = float(scales[i, 1])
        s2 = float(scales[i, 2])
        for c in range(n_cams):
            v = viewmats[c]
            k = Ks[c]
            fx, fy, cx, cy = float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2])
            tx = v[0, 0] * means[i, 0] + v[0, 1] * means[i, 1] + v[0, 2] * means[i, 2] + v[0, 3]
            ty = v[1, 0] * means[i, 0] + v[1, 1] * means[i, 1] + v[1, 2] * means[i, 2] + v[1, 3]
            tz = v[2, 0] * means[i, 0] + v[2, 1] * means[i, 1] + v[2, 2] * means[i, 2] + v[2, 3]
            tx, ty, tz = float(tx), float(ty), float(tz)
            out_depths[c, i] = tz
            rz = 1.0 / tz
            lim_x_pos = (width - cx) / fx + 0.3 * (0.5 * width / fx)
            lim_x_neg = cx / fx + 0.3 * (0.5 * width / fx)
            lim_y_pos = (height - cy) / fy + 0.3 * (0.5 * height / fy)
            lim_y_neg = cy / fy + 0.3 * (0.5 * height / fy)
            uc = min(max(tx * rz, -lim_x_neg), lim_x_pos)
            vc = min(max(ty * rz, -lim_y_neg), lim_y_pos)
            # rows of J M, M = R_cam R_gauss S
            rx0, ry0 = _jm_column(v, rg, 0, s0, fx, fy, rz, uc, vc)
            rx1, ry1 = _jm_column(v, rg, 1, s1, fx, fy, rz, uc, vc)
            rx2, ry2 = _jm_column(v, rg, 2, s2, fx, fy, rz, uc, vc)
            a_ = rx0 * rx0 + rx1 * rx1 + rx2 * rx2
            cxy_ = rx0 * ry0 + rx1 * ry1 + rx2 * ry2
            cyy_ = ry0 * ry0 + ry1 * ry1 + ry2 * ry2
            det_orig = a_ * cyy_ - cxy_ * cxy_
            ab = a_ + eps2d
            cb = cyy_ + eps2d
            det_blurred = ab * cb - cxy_ * cxy_
            det = max(det_blurred, 1e-10)
            out_conics[c, i, 0] = cb / det
            out_conics[c, i, 1] = -cxy_ / det
            out_conics[c, i, 2] = ab / det
            m2x = (fx * tx + k[0, 1] * ty) * rz + cx
            m2y = (k[1, 0] * tx + fy * ty) * rz + cy
            out_means2d[c, i, 0] = m2x
            out_means2d[c, i, 1] = m2y
            op = float(opacities[i])
            if antialiased:
                op = op * math.sqrt(max(det_orig / det, 0.0))
            out_opacities[c, i] = op
            op_s = out_opacities[c, i]  # the stored (rounded) opacity decides, as it is rendered
            extend = math.sqrt(2.0 * math.log(max(op_s, alpha_min) / alpha_min))
            extend = min(extend, RADIUS_SIGMA_MAX)
            rad_x = math.ceil(extend * math.sqrt(ab))
            rad_y = math.ceil(extend * math.sqrt(cb))
            valid = (
                det_blurred > 0.0
                and tz > near_plane
                and tz < far_plane
                and op_s >= alpha_min
                and (rad_x > radius_clip or rad_y > radius_clip)
                and m2x + rad_x > 0.0
                and m2x - rad_x < width
                and m2y + rad_y > 0.0
                and m2y - rad_y < height
            )
            out_radii[c, i, 0] = rad_x if valid else 0
            out_radii[c, i, 1] = rad_y if valid else 0


@nb.njit(parallel=True, cache=True)
def project_backward(
    means: np.ndarray,
    quats: np.ndarray,
    scales: np.ndarray,
    opacities: np.ndarray,
    viewmats: np.ndarray,
    Ks: np.ndarray,
    width: int,
    height: int,
    eps2d: float,
    antialiased: bool,
    v_means2d: np.ndarray,  # [C, N, 2]
    v_conics: np.ndarray,  # [C, N, 3]
    v_opac_out: np.ndarray,  # [C, N]
    v_means: np.ndarray,  # [N, 3] outputs, written
    v_quats: np.ndarray,  # [N, 4]
    v_scales: np.ndarray,  # [N, 3]
    v_opacities: np.ndarray,  # [N]
) -> None:
    n = means.shape[0]
    n_cams = viewmats.shape[0]
    chunk = 256  # Gaussians per task: scratch arrays are allocated once per chunk
    for first in nb.prange((n + chunk - 1) // chunk):
        sc = np.empty(3)
        g_mean = np.empty(3)
        g_scale = np.empty(3)
        g_rg = np.empty(9)
        mm = np.empty((3, 3))  # M[r, col]
        aa = np.empty((3, 3))  # A = R_cam R_gauss
        rx = np.empty(3)
        ry = np.empty(3)
        for i in range(first * chunk, min(n, (first + 1) * chunk)):
            qw0 = float(quats[i, 0])
            qx0 = float(quats[i, 1])
            qy0 = float(quats[i, 2])
            qz0 = float(quats[i, 3])
            norm = max(math.sqrt(qw0 * qw0 + qx0 * qx0 + qy0 * qy0 + qz0 * qz0), 1e-12)
            w, x, y, z = qw0 / norm, qx0 / norm, qy0 / norm, qz0 / norm
            rg = _rotmat(w, x, y, z)
            sc[0] = scales[i, 0]
            sc[1] = scales[i, 1]
            sc[2] = scales[i, 2]
            g_mean[:] = 0.0
            g_scale[:] = 0.0
            g_rg[:] = 0.0
            g_op_in = 0.0
            for c in range(n_cams):
                gm2x = float(v_means2d[c, i, 0])
                gm2y = float(v_means2d[c, i, 1])
                gca = float(v_conics[c, i, 0])
                gcb = float(v_conics[c, i, 1])
                gcc = float(v_conics[c, i, 2])
                gop = float(v_opac_out[c, i])
                if gm2x == 0.0 and gm2y == 0.0 and gca == 0.0 and gcb == 0.0 and gcc == 0.0 == gop:
                    continue  # not visible: nothing flows back
                v = viewmats[c]
                k = Ks[c]
                fx, fy, cx, cy = float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2])
                k01, k10 = float(k[0, 1]), float(k[1, 0])
                tx = float(
                    v[0, 0] * means[i, 0] + v[0, 1] * means[i, 1] + v[0, 2] * means[i, 2] + v[0, 3]
                )
                ty = float(
                    v[1, 0] * means[i, 0] + v[1, 1] * means[i, 1] + v[1, 2] * means[i, 2] + v[1, 3]
                )
                tz = float(
                    v[2, 0] * means[i, 0] + v[2, 1] * means[i, 1] + v[2, 2] * means[i, 2] + v[2, 3]
                )
                rz = 1.0 / tz
                lim_x_pos = (width - cx) / fx + 0.3 * (0.5 * width / fx)
                lim_x_neg = cx / fx + 0.3 * (0.5 * width / fx)
                lim_y_pos = (height - cy) / fy + 0.3 * (0.5 * height / fy)
                lim_y_neg = cy / fy + 0.3 * (0.5 * height / fy)
                u = tx * rz
                vv = ty * rz
                uc = min(max(u, -lim_x_neg), lim_x_pos)
                vc = min(max(vv, -lim_y_neg), lim_y_pos)
                for r in range(3):
                    for col in range(3):
                        aa[r, col] = (
                            v[r, 0] * rg[col] + v[r, 1] * rg[3 + col] + v[r, 2] * rg[6 + col]
                        )
                        mm[r, col] = aa[r, col] * sc[col]
                for col in range(3):
                    rx[col] = fx * rz * (mm[0, col] - uc * mm[2, col])
                    ry[col] = fy * rz * (mm[1, col] - vc * mm[2, col])
                a_ = rx[0] * rx[0] + rx[1] * rx[1] + rx[2] * rx[2]
                b_ = rx[0] * ry[0] + rx[1] * ry[1] + rx[2] * ry[2]
                c_ = ry[0] * ry[0] + ry[1] * ry[1] + ry[2] * ry[2]
                ab = a_ + eps2d
                cb = c_ + eps2d
                det_blurred = ab * cb - b_ * b_
                clamped = det_blurred < 1e-10
                det = 1e-10 if clamped else det_blurred
                # conic = (cb / det, -b / det, ab / det)
                v_ab = gcc / det
                v_cb = gca / det
                v_b = -gcb / det
                v_det = -(gca * cb - gcb * b_ + gcc * ab) / (det * det)
                if antialiased:
                    det_orig = a_ * c_ - b_ * b_
                    ratio = det_orig / det
                    op = float(opacities[i])
                    if ratio > 0.0:
                        root = math.sqrt(ratio)
                        g_op_in += gop * root
                        v_ratio = gop * op * 0.5 / root
                        v_det_orig = v_ratio / det
                        v_det += -v_ratio * det_orig / (det * det)
                        v_ab += v_det_orig * c_  # d det_orig / d a = c (a' = a + eps)
                        v_cb += v_det_orig * a_
                        v_b += -2.0 * b_ * v_det_orig
                else:
                    g_op_in += gop
                if not clamped:
                    v_ab += v_det * cb
                    v_cb += v_det * ab
                    v_b += -2.0 * b_ * v_det
                # a = rx.rx, b = rx.ry, c = ry.ry
                v_rz = 0.0
                v_uc = 0.0
                v_vc = 0.0
                for col in range(3):
                    g_rx = 2.0 * v_ab * rx[col] + v_b * ry[col]
                    g_ry = 2.0 * v_cb * ry[col] + v_b * rx[col]
                    # rx = fx rz (M0 - uc M2), ry = fy rz (M1 - vc M2)
                    v_rz += fx * (mm[0, col] - uc * mm[2, col]) * g_rx
                    v_rz += fy * (mm[1, col] - vc * mm[2, col]) * g_ry
                    v_uc += -fx * rz * mm[2, col] * g_rx
                    v_vc += -fy * rz * mm[2, col] * g_ry
                    g_m0 = fx * rz * g_rx
                    g_m1 = fy * rz * g_ry
                    g_m2 = -fx * rz * uc * g_rx - fy * rz * vc * g_ry
                    # M[r, col] = A[r, col] s[col], A = R_cam R_gauss
                    g_scale[col] += g_m0 * aa[0, col] + g_m1 * aa[1, col] + g_m2 * aa[2, col]
                    g_a0 = g_m0 * sc[col]
                    g_a1 = g_m1 * sc[col]
                    g_a2 = g_m2 * sc[col]
                    for rr in range(3):  # R_gauss[rr, col] += sum_r R_cam[r, rr] g_A[r, col]
                        g_rg[3 * rr + col] += v[0, rr] * g_a0 + v[1, rr] * g_a1 + v[2, rr] * g_a2
                # means2d
                g_tx = gm2x * fx * rz + gm2y * k10 * rz
                g_ty = gm2x * k01 * rz + gm2y * fy * rz
                v_rz += gm2x * (fx * tx + k01 * ty) + gm2y * (k10 * tx + fy * ty)
                # clamped tangents (torch.clamp passes the gradient at the bounds too)
                if -lim_x_neg <= u <= lim_x_pos:
                    g_tx += v_uc * rz
                    v_rz += v_uc * tx
                if -lim_y_neg <= vv <= lim_y_pos:
                    g_ty += v_vc * rz
                    v_rz += v_vc * ty
                g_tz = -v_rz * rz * rz
                for d in range(3):
                    g_mean[d] += v[0, d] * g_tx + v[1, d] * g_ty + v[2, d] * g_tz
            # rotation matrix -> normalised quaternion -> raw quaternion
            g00, g01, g02, g10, g11, g12, g20, g21, g22 = (
                g_rg[0], g_rg[1], g_rg[2], g_rg[3], g_rg[4], g_rg[5], g_rg[6], g_rg[7], g_rg[8]
            )  # fmt: skip
            gw = 2.0 * (-z * g01 + y * g02 + z * g10 - x * g12 - y * g20 + x * g21)
            gx = 2.0 * (y * g01 + z * g02 + y * g10 - 2.0 * x * g11 - w * g12 + z * g20 + w * g21)
            gx += -4.0 * x * g22
            gy = 2.0 * (-2.0 * y * g00 + x * g01 + w * g02 + x * g10 + z * g12 - w * g20 + z * g21)
            gy += -4.0 * y * g22
            gz = 2.0 * (-2.0 * z * g00 - w * g01 + x * g02 + w * g10 - 2.0 * z * g11 + y * g12)
            gz += 2.0 * (x * g20 + y * g21)
            dot = w * gw + x * gx + y * gy + z * gz
            v_quats[i, 0] = (gw - w * dot) / norm
            v_quats[i, 1] = (gx - x * dot) / norm
            v_quats[i, 2] = (gy - y * dot) / norm
            v_quats[i, 3] = (gz - z * dot) / norm
            for d in range(3):
                v_means[i, d] = g_mean[d]
                v_scales[i, d] = g_scale[d]
            v_opacities[i] = g_op_in
