"""The standard 3DGS PLY (graphdeco-inria / gsplat export), read and written.

One binary little-endian `vertex` element of float32 properties:

    x y z [nx ny nz] f_dc_0..2 f_rest_0..(3K-1) opacity scale_0..2 rot_0..3

`f_rest` is channel-major (all K red coefficients, then green, then blue), opacity is a logit,
scales are logs, `rot` is (w, x, y, z). Viewers find properties by name, so the reader accepts any
order and any numeric type (through `plyfile`, which also reads ASCII and big-endian files other
programs write); the writer always writes the layout above.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import plyfile

from spaceport_shared.errors import SpaceportError
from spaceport_shared.splat import SH_REST_COUNTS, SplatModel

log = logging.getLogger(__name__)

_REQUIRED = (
    ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity"]
    + [f"scale_{i}" for i in range(3)]
    + [f"rot_{i}" for i in range(4)]
)


def property_names(sh_degree: int, normals: bool = False) -> list[str]:
    """The property order this writer uses for a given SH degree."""
    k = SH_REST_COUNTS[sh_degree]
    names = ["x", "y", "z"]
    if normals:
        names += ["nx", "ny", "nz"]
    names += [f"f_dc_{i}" for i in range(3)]
    names += [f"f_rest_{i}" for i in range(3 * k)]
    names += ["opacity"] + [f"scale_{i}" for i in range(3)] + [f"rot_{i}" for i in range(4)]
    return names


def write_ply(path: Path, model: SplatModel, normals: bool = False) -> Path:
    """Write `model` as a binary little-endian 3DGS PLY; `normals` adds zero nx ny nz."""
    path = Path(path)
    names = property_names(model.sh_degree, normals)
    n, k = model.count, model.shN.shape[1]
    columns = [model.means]
    if normals:
        columns.append(np.zeros((n, 3), np.float32))
    columns.append(model.sh0.reshape(n, 3))
    columns.append(model.shN.transpose(0, 2, 1).reshape(n, 3 * k))  # [N,K,3] -> channel-major
    columns += [model.opacities.reshape(n, 1), model.scales, model.quats]
    table = np.ascontiguousarray(np.concatenate(columns, axis=1), dtype="<f4")
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {n}"]
    header += [f"property float {name}" for name in names] + ["end_header"]
    with open(path, "wb") as f:
        f.write(("\n".join(header) + "\n").encode("ascii"))
        f.write(table.tobytes())
    return path


def read_ply(path: Path) -> SplatModel:
    """Read a 3DGS PLY; malformed files raise `SpaceportError` naming the problem.

    Rows with NaN or Inf values are kept (the caller decides) and counted in the log;
    `SplatModel.nonfinite_count()` gives the number.
    """
    path = Path(path)
    if not path.is_file():
        raise SpaceportError(f"The splat file {path} does not exist; check the path.")
    if path.stat().st_size == 0:
        raise SpaceportError(f"The splat file {path} is empty; export the trained model again.")
    try:
        data = plyfile.PlyData.read(str(path))
    except (plyfile.PlyParseError, ValueError, EOFError, IndexError, UnicodeDecodeError) as exc:
        raise SpaceportError(
            f"The splat file {path} is not a readable PLY or is truncated ({exc}); "
            "export the trained model again."
        ) from exc
    if "vertex" not in data:
        raise SpaceportError(f"The PLY file {path} has no 'vertex' element; it holds no splats.")
    vertex = data["vertex"].data
    n = len(vertex)
    names = set(vertex.dtype.names or ())
    missing = [name for name in _REQUIRED if name not in names]
    if missing:
        raise SpaceportError(
            f"The PLY file {path} lacks the 3DGS properties {', '.join(missing)}; "
            "it is not a Gaussian-splat model."
        )
    rest = sorted(
        (int(name[len("f_rest_") :]) for name in names if name.startswith("f_rest_")),
    )
    valid_count = len(rest) % 3 == 0 and len(rest) // 3 in SH_REST_COUNTS.values()
    if rest != list(range(len(rest))) or not valid_count:
        raise SpaceportError(
            f"The PLY file {path} has {len(rest)} f_rest_* properties (numbered "
            f"{rest[:3]}...); a 3DGS model has 0, 9, 24 or 45 for SH degree 0 to 3."
        )
    k = len(rest) // 3
    if n == 0:
        raise SpaceportError(f"The PLY file {path} holds no splats (0 vertices).")

    def cols(*keys: str) -> np.ndarray:
        return np.stack([np.asarray(vertex[key], dtype=np.float32) for key in keys], axis=1)

    shN = cols(*[f"f_rest_{i}" for i in range(3 * k)]) if k else np.zeros((n, 0), np.float32)
    model = SplatModel(
        means=cols("x", "y", "z"),
        quats=cols(*[f"rot_{i}" for i in range(4)]),
        scales=cols(*[f"scale_{i}" for i in range(3)]),
        opacities=np.asarray(vertex["opacity"], dtype=np.float32),
        sh0=cols("f_dc_0", "f_dc_1", "f_dc_2").reshape(n, 1, 3),
        shN=shN.reshape(n, 3, k).transpose(0, 2, 1),  # channel-major -> [N,K,3]
    )
    bad = model.nonfinite_count()
    if bad:
        log.warning("%s: %d of %d splats have NaN or Inf values", path, bad, n)
    return model
