"""Inputs a user can get wrong: each fails with one clear sentence, a non-zero exit and no
output folder left behind."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spaceport_sfm.cli import main


def _run(input_path: Path, output: Path, capsys, *settings: str) -> tuple[int, str]:
    argv = ["--input", str(input_path), "--output", str(output)]
    for item in settings:
        argv += ["--set", item]
    code = main(argv)
    return code, capsys.readouterr().err


def _assert_failed(code: int, err: str, output: Path, *phrases: str) -> None:
    assert code != 0
    last = [line for line in err.splitlines() if line.startswith("spaceport-sfm: error:")]
    assert last, err[-2000:]
    for phrase in phrases:
        assert phrase in last[-1], last[-1]
    assert not output.exists(), "a failed run must leave no output"
    leftovers = [p.name for p in output.parent.iterdir() if p.name.startswith(f".{output.name}")]
    assert not leftovers, leftovers


def test_empty_folder(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    code, err = _run(tmp_path / "in", tmp_path / "out", capsys)
    _assert_failed(code, err, tmp_path / "out", "Only 0 usable photos", "at least 3")


def test_non_images_only(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a photo")
    (folder / "fake.JPG").write_bytes(b"\x00" * 100)
    code, err = _run(folder, tmp_path / "out", capsys)
    _assert_failed(
        code, err, tmp_path / "out", "Only 0 usable photos", "among 2 files", "notes.txt"
    )


def test_corrupt_jpeg_is_skipped_and_too_few_remain(tmp_path, capsys, survey):
    folder = tmp_path / "in"
    folder.mkdir()
    good = sorted(survey.images_dir.iterdir())
    shutil.copy(good[0], folder / "good1.jpg")
    shutil.copy(good[1], folder / "good2.jpg")
    data = good[2].read_bytes()
    (folder / "broken.jpg").write_bytes(data[: len(data) // 3])  # truncated mid-scan
    code, err = _run(folder, tmp_path / "out", capsys)
    _assert_failed(code, err, tmp_path / "out", "Only 2 usable photos", "upload more")


def test_too_few_images(tmp_path, capsys, survey):
    folder = tmp_path / "in"
    folder.mkdir()
    for src in sorted(survey.images_dir.iterdir())[:2]:
        shutil.copy(src, folder / src.name)
    code, err = _run(folder, tmp_path / "out", capsys)
    _assert_failed(code, err, tmp_path / "out", "Only 2 usable photos", "at least 3")


def test_zip_escaping_its_folder(tmp_path, capsys, survey):
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for src in sorted(survey.images_dir.iterdir())[:3]:
            zf.write(src, f"ok/{src.name}")
        zf.write(sorted(survey.images_dir.iterdir())[3], "../escape.jpg")
    code, err = _run(archive, tmp_path / "out", capsys)
    _assert_failed(code, err, tmp_path / "out", "outside its folder")
    assert not (tmp_path / "escape.jpg").exists()


def test_images_without_overlap(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):  # unrelated textures: features everywhere, matches nowhere
        noise = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
        Image.fromarray(noise).save(folder / f"noise_{i}.jpg", quality=95)
    code, err = _run(folder, tmp_path / "out", capsys)
    _assert_failed(code, err, tmp_path / "out", "do not overlap enough", "more overlap")


def test_bad_setting_is_named(tmp_path, capsys, survey):
    code, err = _run(survey.images_dir, tmp_path / "out", capsys, "matching=nearby")
    _assert_failed(code, err, tmp_path / "out", "matching")
    code, err = _run(survey.images_dir, tmp_path / "out", capsys, "origin=north-pole")
    _assert_failed(code, err, tmp_path / "out", "origin")


def test_console_script_exit_status(tmp_path):
    """The real process boundary: exit status and the message on stderr."""
    (tmp_path / "in").mkdir()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "spaceport_sfm.cli",
            "--input",
            str(tmp_path / "in"),
            "--output",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode != 0
    assert "Only 0 usable photos" in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("suffix", [".jpg", ".JPEG"])
def test_upload_names_keep_their_folders(tmp_path, suffix):
    from spaceport_sfm.inputs import gather_candidates

    (tmp_path / "in" / "flight" / "a").mkdir(parents=True)
    (tmp_path / "in" / "flight" / "a" / f"x{suffix}").write_bytes(b"1")
    (tmp_path / "in" / ".DS_Store").write_bytes(b"1")
    found = gather_candidates(tmp_path / "in", tmp_path / "scratch", 10**6)
    assert [c.name for c in found] == [f"flight/a/x{suffix}"]
