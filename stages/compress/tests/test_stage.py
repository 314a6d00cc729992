from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from spaceport_compress.cli import SPEC
from spaceport_compress.decoder import read_model
from spaceport_compress.settings import CompressSettings
from spaceport_compress.stage import run
from spaceport_shared.entrypoint import execute_stage
from spaceport_shared.errors import SpaceportError
from spaceport_shared.ply import write_ply
from spaceport_shared.settings import parse_settings
from spaceport_shared.splat import SplatModel

FAST = {"sh_iterations": "4"}


def _settings(**values: str) -> CompressSettings:
    return parse_settings(CompressSettings, {**FAST, **values})


@pytest.fixture(scope="module")
def ply_sh3(tmp_path_factory, model_sh3: SplatModel) -> Path:
    return write_ply(tmp_path_factory.mktemp("model") / "scene.ply", model_sh3)


def _tar_gz(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_ply_in_sog_out(ply_sh3: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = execute_stage(SPEC, _settings(), ply_sh3, out)
    assert (out / "scene.sog").is_file() and (out / "sog" / "meta.json").is_file()
    saved = json.loads((out / "report.json").read_text())
    metrics = saved["metrics"]
    assert metrics["input_bytes"] == ply_sh3.stat().st_size
    assert metrics["output_bytes"] == (out / "scene.sog").stat().st_size
    assert metrics["ratio"] == pytest.approx(metrics["input_bytes"] / metrics["output_bytes"], 1e-3)
    assert metrics["splats_in"] == metrics["splats_out"] == 3000
    for key in ("means", "quats", "scales", "opacity", "sh0", "shN"):
        assert 0 < metrics[f"rmse_{key}"] < 0.1, key
    for step in ("read", "clean", "order", "sh_palette", "webp", "write", "verify"):
        assert step in saved["timings_s"], step
    assert report.metrics == metrics
    assert read_model(out / "scene.sog").count == 3000


def test_model_tar_gz_and_plas(ply_sh3: Path, tmp_path: Path) -> None:
    archive = _tar_gz(
        tmp_path / "model.tar.gz",
        {"scene.ply": ply_sh3.read_bytes(), "cameras.json": b"{}"},
    )
    inbox = tmp_path / "input"
    inbox.mkdir()
    archive.rename(inbox / "model.tar.gz")  # a processing job's input folder
    report = run(_settings(ordering="plas"), inbox, _empty(tmp_path / "out"))
    assert report.metrics["splats_out"] == 3000
    assert report.details["model_file"] == "scene.ply"
    assert not any((tmp_path / "out").glob("*.ply"))  # the extracted model is not output


def test_cleanup_drops_and_counts(model_sh1: SplatModel, tmp_path: Path) -> None:
    arrays = {k: v.copy() for k, v in model_sh1.arrays().items()}
    arrays["means"][0, 1] = np.nan
    arrays["shN"][1, 0, 0] = np.inf
    arrays["quats"][2] = 0.0
    arrays["opacities"][3:13] = -9.0  # opacity 1e-4
    ply = write_ply(tmp_path / "m.ply", SplatModel(**arrays))
    report = run(_settings(min_opacity="0.001"), ply, _empty(tmp_path / "out"))
    m = report.metrics
    assert (m["dropped_nonfinite"], m["dropped_zero_quat"], m["dropped_faint"]) == (2, 1, 10)
    assert m["splats_out"] == model_sh1.count - 13
    assert len(report.warnings) == 3


def _empty(path: Path) -> Path:
    path.mkdir()
    return path


def _truncated(tmp_path: Path, ply: Path) -> Path:
    data = ply.read_bytes()
    return _write(tmp_path / "cut.ply", data[: len(data) // 2])


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _missing_property(tmp_path: Path, ply: Path) -> Path:
    text = ply.read_bytes()
    header_end = text.index(b"end_header\n")
    header = text[:header_end].replace(b"property float rot_3\n", b"")
    # drop the rot_3 column too, so the body matches the header
    n = 3000
    body = np.frombuffer(text[header_end + len(b"end_header\n") :], "<f4").reshape(n, -1)[:, :-1]
    return _write(tmp_path / "norot.ply", header + b"end_header\n" + body.tobytes())


def _escaping_tar(tmp_path: Path, ply: Path) -> Path:
    return _tar_gz(tmp_path / "model.tar.gz", {"../escape.ply": ply.read_bytes()})


def _no_finite(tmp_path: Path, ply: Path) -> Path:
    n = 50
    model = SplatModel(
        means=np.full((n, 3), np.nan),
        quats=np.ones((n, 4)),
        scales=np.zeros((n, 3)),
        opacities=np.zeros(n),
        sh0=np.zeros((n, 1, 3)),
        shN=np.zeros((n, 3, 3)),
    )
    return write_ply(tmp_path / "nan.ply", model)


def _extra_bytes(tmp_path: Path, ply: Path) -> Path:
    return _write(tmp_path / "joined.ply", ply.read_bytes() + b"\0" * 100)


def _cut_tar(tmp_path: Path, ply: Path) -> Path:
    data = _tar_gz(tmp_path / "full.tar.gz", {"scene.ply": ply.read_bytes()}).read_bytes()
    return _write(tmp_path / "model.tar.gz", data[: len(data) // 2])


def _tar_of_cut_ply(tmp_path: Path, ply: Path) -> Path:
    data = ply.read_bytes()
    return _tar_gz(tmp_path / "model.tar.gz", {"scene.ply": data[: len(data) - 1000]})


BAD_INPUTS = {
    "extra_bytes": (_extra_bytes, r"joined.ply is damaged: 100 bytes follow the splats"),
    "cut_tar": (_cut_tar, r"The archive model.tar.gz is damaged"),
    "tar_of_cut_ply": (_tar_of_cut_ply, r"The splat file model.tar.gz:scene.ply is not a readable"),
    "empty": (lambda tmp, ply: _write(tmp / "empty.ply", b""), "empty"),
    "truncated": (_truncated, "truncated"),
    "missing_property": (_missing_property, "rot_3"),
    "escaping_tar": (_escaping_tar, "outside"),
    "no_finite_splats": (_no_finite, "no usable splats"),
    "not_a_model": (lambda tmp, ply: _write(tmp / "notes.txt", b"hello"), "neither"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_fails_clearly_without_output(case: str, ply_sh3: Path, tmp_path: Path) -> None:
    make, words = BAD_INPUTS[case]
    bad = make(tmp_path, ply_sh3)
    out = tmp_path / "out"
    with pytest.raises(SpaceportError, match=words):
        execute_stage(SPEC, _settings(), bad, out)
    assert not out.exists()
    assert not (tmp_path / "escape.ply").exists()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_console_script_fails_with_message_and_no_output(ply_sh3: Path, tmp_path: Path) -> None:
    bad = _escaping_tar(tmp_path, ply_sh3)
    out = tmp_path / "out"
    exe = Path(sys.executable).with_name("spaceport-compress")
    result = subprocess.run(
        [str(exe), "--input", str(bad), "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert (
        "spaceport-compress: error: The archive model.tar.gz holds a path outside" in result.stderr
    )
    assert not out.exists()


def test_console_script_container_mode(ply_sh3: Path, tmp_path: Path) -> None:
    root = tmp_path / "ml"
    (root / "processing" / "input").mkdir(parents=True)
    _tar_gz(root / "processing" / "input" / "model.tar.gz", {"scene.ply": ply_sh3.read_bytes()})
    exe = Path(sys.executable).with_name("spaceport-compress")
    result = subprocess.run(
        [
            str(exe),
            "--ml-root",
            str(root),
            "--set",
            "sh_iterations=3",
            "--set",
            "sh_palette_size=512",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = root / "processing" / "output"
    report = json.loads((out / "report.json").read_text())
    assert report["metrics"]["sh_palette_size"] <= 512
    assert (out / "scene.sog").is_file()


def test_unknown_setting_is_refused(ply_sh3: Path, tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("spaceport-compress")
    result = subprocess.run(
        [str(exe), "--input", str(ply_sh3), "--output", str(tmp_path / "o"), "--set", "palette=9"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "Unknown setting 'palette'" in result.stderr
