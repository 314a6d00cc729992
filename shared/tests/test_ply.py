import numpy as np
import plyfile
import pytest

from spaceport_shared.errors import SpaceportError
from spaceport_shared.ply import property_names, read_ply, write_ply
from spaceport_shared.splat import SplatModel


def random_model(n, sh_degree, seed=0):
    rng = np.random.default_rng(seed)
    k = (sh_degree + 1) ** 2 - 1
    return SplatModel(
        means=rng.normal(size=(n, 3)) * 10,
        quats=rng.normal(size=(n, 4)),
        scales=rng.normal(-3, 1, size=(n, 3)),
        opacities=rng.normal(size=n),
        sh0=rng.normal(size=(n, 1, 3)),
        shN=rng.normal(size=(n, k, 3)) * 0.1,
    )


def assert_same(a, b):
    for name, values in a.arrays().items():
        np.testing.assert_array_equal(values, b.arrays()[name], err_msg=name)


@pytest.mark.parametrize("sh_degree", [0, 1, 2, 3])
def test_round_trip_is_exact(tmp_path, sh_degree):
    model = random_model(257, sh_degree)
    path = write_ply(tmp_path / "m.ply", model)
    back = read_ply(path)
    assert back.sh_degree == sh_degree and back.count == 257
    assert_same(model, back)
    k = (sh_degree + 1) ** 2 - 1
    assert path.stat().st_size == len(path.read_bytes().split(b"end_header\n")[0]) + 11 + (
        257 * 4 * (14 + 3 * k)
    )


def test_property_order_and_channel_major_f_rest(tmp_path):
    model = random_model(3, 3)
    path = write_ply(tmp_path / "m.ply", model, normals=True)
    ply = plyfile.PlyData.read(str(path))
    vertex = ply["vertex"]
    assert ply.text is False and ply.byte_order == "<"
    assert [p.name for p in vertex.properties] == property_names(3, normals=True)
    assert [p.name for p in vertex.properties][:9] == [
        "x",
        "y",
        "z",
        "nx",
        "ny",
        "nz",
        "f_dc_0",
        "f_dc_1",
        "f_dc_2",
    ]
    assert [p.name for p in vertex.properties][-8:] == [
        "opacity",
        "scale_0",
        "scale_1",
        "scale_2",
        "rot_0",
        "rot_1",
        "rot_2",
        "rot_3",
    ]
    assert all(p.val_dtype == "f4" for p in vertex.properties)
    # f_rest_0..14 are the red channel's 15 coefficients, then green, then blue
    assert vertex["f_rest_0"][1] == model.shN[1, 0, 0]
    assert vertex["f_rest_1"][1] == model.shN[1, 1, 0]
    assert vertex["f_rest_15"][1] == model.shN[1, 0, 1]
    assert vertex["f_rest_44"][2] == model.shN[2, 14, 2]
    assert vertex["rot_0"][0] == model.quats[0, 0]  # w first
    assert np.all(vertex["nx"] == 0)


def test_reads_a_file_another_program_wrote_with_plyfile(tmp_path):
    # another exporter's order (rot before scale, opacity last), float64, ASCII, extra property
    model = random_model(5, 1, seed=3)
    names = (
        ["x", "y", "z", "red"]
        + [f"rot_{i}" for i in range(4)]
        + [f"scale_{i}" for i in range(3)]
        + [f"f_dc_{i}" for i in range(3)]
        + [f"f_rest_{i}" for i in range(9)]
        + ["opacity"]
    )
    data = np.zeros(5, dtype=[(n, "f8" if n != "red" else "u1") for n in names])
    for i, c in enumerate("xyz"):
        data[c] = model.means[:, i]
    for i in range(4):
        data[f"rot_{i}"] = model.quats[:, i]
    for i in range(3):
        data[f"scale_{i}"] = model.scales[:, i]
        data[f"f_dc_{i}"] = model.sh0[:, 0, i]
    rest = model.shN.transpose(0, 2, 1).reshape(5, 9)
    for i in range(9):
        data[f"f_rest_{i}"] = rest[:, i]
    data["opacity"] = model.opacities
    plyfile.PlyData([plyfile.PlyElement.describe(data, "vertex")], text=True).write(
        str(tmp_path / "other.ply")
    )
    back = read_ply(tmp_path / "other.ply")
    for name, values in model.arrays().items():
        np.testing.assert_allclose(back.arrays()[name], values, rtol=1e-6, err_msg=name)


def test_nonfinite_rows_are_kept_and_counted(tmp_path, caplog):
    model = random_model(10, 0)
    model.means[2, 1] = np.nan
    model.opacities[5] = np.inf
    back = read_ply(write_ply(tmp_path / "m.ply", model))
    assert back.count == 10 and back.nonfinite_count() == 2
    assert list(np.flatnonzero(~back.finite_mask())) == [2, 5]
    assert "2 of 10 splats have NaN or Inf" in caplog.text


def write_header_only(path, names, count):
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {count}"]
    header += [f"property float {n}" for n in names] + ["end_header"]
    path.write_bytes(("\n".join(header) + "\n").encode())
    return path


def test_empty_file(tmp_path):
    (tmp_path / "e.ply").write_bytes(b"")
    with pytest.raises(SpaceportError, match="is empty"):
        read_ply(tmp_path / "e.ply")


def test_not_a_ply(tmp_path):
    (tmp_path / "x.ply").write_text("hello world\n")
    with pytest.raises(SpaceportError, match="not a readable PLY"):
        read_ply(tmp_path / "x.ply")


def test_truncated_file(tmp_path):
    path = write_ply(tmp_path / "m.ply", random_model(100, 3))
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(SpaceportError, match="truncated"):
        read_ply(path)


def test_missing_property_is_named(tmp_path):
    names = [n for n in property_names(0) if n not in ("opacity", "rot_3")]
    path = write_header_only(tmp_path / "m.ply", names, 0)
    with pytest.raises(SpaceportError, match="lacks the 3DGS properties opacity, rot_3"):
        read_ply(path)


def test_zero_vertices(tmp_path):
    path = write_header_only(tmp_path / "m.ply", property_names(0), 0)
    with pytest.raises(SpaceportError, match="holds no splats"):
        read_ply(path)


def test_wrong_f_rest_count(tmp_path):
    names = property_names(0) + [f"f_rest_{i}" for i in range(10)]
    path = write_header_only(tmp_path / "m.ply", names, 0)
    with pytest.raises(SpaceportError, match="has 10 f_rest_"):
        read_ply(path)


def test_missing_file(tmp_path):
    with pytest.raises(SpaceportError, match="does not exist"):
        read_ply(tmp_path / "nope.ply")


def test_select_and_colors():
    model = random_model(4, 2)
    sub = model.select(np.array([3, 1]))
    np.testing.assert_array_equal(sub.means, model.means[[3, 1]])
    assert sub.shN.shape == (2, 8, 3)
    assert model.colors().shape == (4, 3)
    assert model.colors().min() >= 0 and model.colors().max() <= 1


def test_select_no_rows_keeps_the_sh_layout():
    empty = random_model(4, 3).select(np.zeros(4, dtype=bool))
    assert empty.count == 0 and empty.shN.shape == (0, 15, 3) and empty.sh_degree == 3
