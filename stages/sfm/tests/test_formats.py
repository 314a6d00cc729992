"""HEIC and DNG photos with their EXIF, a DNG beside its JPEG, and a damaged EXIF block
(issue 19 item 3, issue 15 item 6). The files are made here: HEIC by pillow-heif, DNG by a
minimal writer below (Pillow writes the TIFF; the tags are the few LibRaw needs)."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
import rawpy
from PIL import Image
from PIL.TiffImagePlugin import IFDRational, ImageFileDirectory_v2

from spaceport_sfm.cli import main
from spaceport_sfm.formats import open_photo
from spaceport_shared.contract import IMAGE_NAMES_NAME

_WHITE = 4095  # 12-bit raw


def write_dng(path: Path, rgb: np.ndarray, exif: Image.Exif) -> Path:
    """A CFA (RGGB) DNG of `rgb` [H, W, 3] uint8 sRGB, with `exif`'s IFD0, camera and GPS tags."""
    linear = (rgb.astype(np.float64) / 255.0) ** 2.2 * _WHITE
    bayer = np.empty(rgb.shape[:2], np.uint16)
    bayer[0::2, 0::2] = linear[0::2, 0::2, 0]
    bayer[0::2, 1::2] = linear[0::2, 1::2, 1]
    bayer[1::2, 0::2] = linear[1::2, 0::2, 1]
    bayer[1::2, 1::2] = linear[1::2, 1::2, 2]
    tags = ImageFileDirectory_v2()
    typed = {
        262: (32803, 3),  # PhotometricInterpretation: CFA
        33421: ((2, 2), 3),  # CFARepeatPatternDim
        33422: (bytes([0, 1, 1, 2]), 1),  # CFAPattern: RGGB
        50706: (bytes([1, 4, 0, 0]), 1),  # DNGVersion 1.4
        50717: (_WHITE, 4),  # WhiteLevel
        50778: (21, 3),  # CalibrationIlluminant1: D65
        # ColorMatrix1 (XYZ -> camera): sRGB's, so the camera's primaries are sRGB's
        50721: (
            tuple(
                IFDRational(round(v * 10000), 10000)
                for v in (3.2406, -1.5372, -0.4986, -0.9689, 1.8758, 0.0415, 0.0557, -0.2040, 1.057)
            ),
            10,
        ),
        50728: ((IFDRational(1), IFDRational(1), IFDRational(1)), 5),  # AsShotNeutral
    }
    for tag, (value, kind) in typed.items():
        tags[tag] = value
        tags.tagtype[tag] = kind
    tags[50708] = "Spaceport Test DNG"  # UniqueCameraModel
    for tag in (0x010F, 0x0110):
        if tag in exif:
            tags[tag] = exif[tag]
    for ifd in (0x8769, 0x8825):
        if exif.get_ifd(ifd):
            tags[ifd] = dict(exif.get_ifd(ifd))
    Image.fromarray(bayer).save(path, "TIFF", tiffinfo=tags)
    return path


def write_heic(path: Path, image: Image.Image, exif: Image.Exif) -> Path:
    image.save(path, format="HEIF", exif=exif.tobytes(), quality=95)
    return path


def damage_gps_pointer(data: bytes) -> bytes:
    """The JPEG with its EXIF GPS-IFD pointer aimed past the end of the block."""
    tiff = data.index(b"Exif\0\0") + 6
    order = "<" if data[tiff : tiff + 2] == b"II" else ">"
    ifd0 = tiff + struct.unpack(order + "I", data[tiff + 4 : tiff + 8])[0]
    (count,) = struct.unpack(order + "H", data[ifd0 : ifd0 + 2])
    for k in range(count):
        entry = ifd0 + 2 + 12 * k
        if struct.unpack(order + "H", data[entry : entry + 2])[0] == 0x8825:
            return data[: entry + 8] + struct.pack(order + "I", 0xFFFFFF) + data[entry + 12 :]
    raise AssertionError("no GPS pointer")


def _exif_of(path: Path) -> Image.Exif:
    with Image.open(path) as im:
        return im.getexif()


def test_dng_is_developed_with_its_exif(survey, tmp_path):
    src = sorted(survey.images_dir.iterdir())[0]
    with Image.open(src) as im:
        rgb = np.asarray(im.convert("RGB"))
    dng = write_dng(tmp_path / "DJI_0001.DNG", rgb, _exif_of(src))
    with rawpy.imread(str(dng)) as raw:
        assert raw.raw_image.shape == rgb.shape[:2]  # LibRaw reads the file we wrote
    with open_photo(dng) as opened, Image.open(src) as im:
        assert opened.kind == "DNG" and opened.image.size == im.size
        truth = _exif_of(src).get_ifd(0x8825)
        assert opened.exif.gps is not None and not opened.exif.damaged
        lat = sum(float(v) / 60**i for i, v in enumerate(truth[2]))
        assert opened.exif.gps.lat == pytest.approx(lat, abs=1e-9)
        assert opened.exif.focal_35mm == float(_exif_of(src).get_ifd(0x8769)[0xA405])
        developed = np.asarray(opened.image, dtype=np.float64).mean(axis=2)
        grey = np.asarray(im.convert("L"), dtype=np.float64)
        assert np.corrcoef(developed.ravel(), grey.ravel())[0, 1] > 0.9


def test_heic_with_its_exif(survey, tmp_path):
    src = sorted(survey.images_dir.iterdir())[0]
    with Image.open(src) as im:
        heic = write_heic(tmp_path / "IMG_0001.HEIC", im.convert("RGB"), _exif_of(src))
    with open_photo(heic) as opened:
        assert opened.kind == "HEIF" and opened.image.size == (320, 240)
        assert opened.exif.gps is not None and opened.exif.focal_35mm is not None
    assert pillow_heif.is_supported(heic)


def test_damaged_exif_says_so(survey, tmp_path):
    src = sorted(survey.images_dir.iterdir())[0]
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(damage_gps_pointer(src.read_bytes()))
    with open_photo(bad) as opened:
        assert opened.exif.gps is None
        assert "GPS section is missing" in opened.exif.damaged
    with open_photo(src) as opened:
        assert opened.exif.damaged == ""


@pytest.fixture(scope="module")
def mixed_run(survey, tmp_path_factory):
    """The survey's 12 photos as 4 DNG, 4 HEIC and 4 JPEG (one with a damaged EXIF block, one
    with a DNG twin of the same shot): a card from a drone shooting raw and a phone."""
    upload = tmp_path_factory.mktemp("mixed") / "card"
    upload.mkdir()
    photos = sorted(survey.images_dir.iterdir())
    for i, src in enumerate(photos):
        stem = src.stem
        with Image.open(src) as im:
            rgb, exif = im.convert("RGB"), im.getexif()
        if i % 3 == 0:
            write_dng(upload / f"{stem}.DNG", np.asarray(rgb), exif)
        elif i % 3 == 1:
            write_heic(upload / f"{stem}.HEIC", rgb, exif)
        elif i == 2:
            (upload / src.name).write_bytes(damage_gps_pointer(src.read_bytes()))
        else:
            shutil.copyfile(src, upload / src.name)
            if i == 5:
                write_dng(upload / f"{stem}.dng", np.asarray(rgb), exif)
    (upload / "DSC_0001.NEF").write_bytes(b"II*\0" + b"\0" * 100)
    out = upload.parent / "out"
    code = main(["--input", str(upload), "--output", str(out)])
    return code, out, photos


def test_mixed_formats_through_the_stage(mixed_run):
    code, out, photos = mixed_run
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    m = report["metrics"]
    assert m["images_total"] == 12 and m["images_registered"] == 12
    assert m["images_with_gps"] == 11  # the damaged one lost its GPS, and says so
    assert m["images_exif_damaged"] == 1
    twin = photos[5]
    warnings = report["warnings"]
    assert f"skipped {twin.stem}.dng: the same shot as {twin.name}, which is used" in warnings
    assert any(w.startswith(f"{photos[2].name}: its EXIF block is damaged") for w in warnings)
    assert any("DSC_0001.NEF: a NEF camera raw file" in w for w in warnings)
    names = set(json.loads((out / IMAGE_NAMES_NAME).read_text()).values())
    assert sum(n.endswith(".DNG") for n in names) == 4
    assert sum(n.endswith(".HEIC") for n in names) == 4
    assert report["details"]["georeference"]["georeferenced"] is True
    assert m["georeference_residual_rms_m"] < 0.5
