import math

import piexif
import pytest
from PIL import Image

from spaceport_sfm.exif import FULL_FRAME_DIAGONAL_MM, focal_px_from_35mm, read_exif


def _rational(value: float, den: int = 10000) -> tuple[int, int]:
    return (round(value * den), den)


def _dms(deg: float) -> tuple:
    d = int(deg)
    m = int((deg - d) * 60)
    s = (deg - d - m / 60) * 3600
    return ((d, 1), (m, 1), _rational(s))


def _photo(path, gps: dict | None, f35: int | None = 24, make="DJI", model="FC300S"):
    exif = {"0th": {piexif.ImageIFD.Make: make, piexif.ImageIFD.Model: model}, "Exif": {}}
    if f35:
        exif["Exif"][piexif.ExifIFD.FocalLengthIn35mmFilm] = f35
    exif["Exif"][piexif.ExifIFD.DateTimeOriginal] = "2024:05:01 10:00:00"
    if gps:
        exif["GPS"] = gps
    Image.new("RGB", (64, 48), (120, 130, 140)).save(path, exif=piexif.dump(exif))
    return path


def test_reads_gps_with_hemispheres_and_altitude(tmp_path):
    gps = {
        piexif.GPSIFD.GPSLatitudeRef: "S",
        piexif.GPSIFD.GPSLatitude: _dms(33.8568),
        piexif.GPSIFD.GPSLongitudeRef: "W",
        piexif.GPSIFD.GPSLongitude: _dms(70.6693),
        piexif.GPSIFD.GPSAltitudeRef: 1,  # below sea level
        piexif.GPSIFD.GPSAltitude: _rational(12.5),
    }
    with Image.open(_photo(tmp_path / "a.jpg", gps)) as im:
        info = read_exif(im)
    assert info.gps is not None
    assert info.gps.lat == pytest.approx(-33.8568, abs=1e-6)
    assert info.gps.lon == pytest.approx(-70.6693, abs=1e-6)
    assert info.gps.alt == pytest.approx(-12.5)
    assert info.gps.has_alt
    assert (info.make, info.model, info.focal_35mm) == ("DJI", "FC300S", 24.0)
    assert info.taken_at == "2024:05:01 10:00:00"


def test_missing_or_null_gps_is_none(tmp_path):
    zero = {
        piexif.GPSIFD.GPSLatitudeRef: "N",
        piexif.GPSIFD.GPSLatitude: _dms(0.0),
        piexif.GPSIFD.GPSLongitudeRef: "E",
        piexif.GPSIFD.GPSLongitude: _dms(0.0),
    }
    with Image.open(_photo(tmp_path / "zero.jpg", zero, f35=None)) as im:
        info = read_exif(im)
    assert info.gps is None and info.focal_35mm is None
    with Image.open(_photo(tmp_path / "none.jpg", None)) as im:
        assert read_exif(im).gps is None


def test_focal_from_35mm_uses_the_frame_diagonal():
    # a 36x24 mm frame imaged at 3600x2400 px: 1 mm = 100 px, so f35 = 50 mm is 5000 px
    assert focal_px_from_35mm(50, 3600, 2400) == pytest.approx(5000.0)
    assert pytest.approx(math.hypot(36, 24)) == FULL_FRAME_DIAGONAL_MM
