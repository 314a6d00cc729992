import io
import tarfile
import zipfile

import pytest

from spaceport_shared.archive import extract_archive, is_archive
from spaceport_shared.errors import SpaceportError


def make_zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def make_tar(path, members, links=()):
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in links:
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)
    return path


def test_zip_extracts_nested_files(tmp_path):
    arc = make_zip(tmp_path / "photos.zip", {"a/b.jpg": b"123", "c.png": b"4"})
    files = extract_archive(arc, tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in files) == ["a/b.jpg", "c.png"]
    assert (tmp_path / "out" / "a" / "b.jpg").read_bytes() == b"123"
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")] == []


def test_tar_gz_extracts(tmp_path):
    arc = make_tar(tmp_path / "model.tar.gz", {"scene.ply": b"ply", "sub/x.json": b"{}"})
    extract_archive(arc, tmp_path / "out")
    assert (tmp_path / "out" / "scene.ply").read_bytes() == b"ply"


@pytest.mark.parametrize("name", ["../evil.jpg", "a/../../evil.jpg", "/etc/evil.jpg"])
def test_paths_escaping_the_folder_are_refused(tmp_path, name):
    arc = make_zip(tmp_path / "bad.zip", {"ok.jpg": b"1", name: b"2"})
    with pytest.raises(SpaceportError, match="path outside its folder"):
        extract_archive(arc, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
    assert not (tmp_path / "evil.jpg").exists()


def test_tar_with_parent_paths_is_refused(tmp_path):
    arc = make_tar(tmp_path / "m.tar.gz", {"../scene.ply": b"x"})
    with pytest.raises(SpaceportError, match="path outside its folder"):
        extract_archive(arc, tmp_path / "out")
    assert not (tmp_path / "scene.ply").exists()


def test_tar_links_are_refused(tmp_path):
    arc = make_tar(tmp_path / "m.tar.gz", {"a.ply": b"x"}, links=[("b.ply", "/etc/passwd")])
    with pytest.raises(SpaceportError, match="link or special file"):
        extract_archive(arc, tmp_path / "out")


def test_archive_larger_than_the_limit_is_refused(tmp_path):
    arc = make_zip(tmp_path / "big.zip", {"a.bin": b"0" * 5000})
    with pytest.raises(SpaceportError, match="expands to more than"):
        extract_archive(arc, tmp_path / "out", max_bytes=4000)
    assert list((tmp_path / "out").iterdir()) == []


def test_not_an_archive(tmp_path):
    (tmp_path / "x.zip").write_bytes(b"not a zip at all")
    with pytest.raises(SpaceportError, match="not a readable zip or tar"):
        extract_archive(tmp_path / "x.zip", tmp_path / "out")


def test_is_archive():
    assert is_archive("a.ZIP") and is_archive("m.tar.gz") and not is_archive("a.jpg")
