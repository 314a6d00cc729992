import math
from dataclasses import replace

import piexif
import pytest
from PIL import Image

from spaceport_sfm.exif import (
    FULL_FRAME_DIAGONAL_MM,
    FocalPrior,
    PhotoExif,
    focal_prior,
    focal_px_from_35mm,
    read_exif,
)


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


def test_focal_prior_from_every_exif_source():
    base = PhotoExif(make="", model="", taken_at="", focal_35mm=None, gps=None)
    # Parrot Sequoia: 4.88 mm lens, 746.27 px/mm over its 4608 px sensor, no 35 mm tag needed
    sequoia = replace(base, focal_mm=4.88, focal_plane_px_per_mm=746.27, exif_long_side=4608)
    prior = focal_prior(sequoia, 1600, 1200, 4608)
    assert prior.focal_px == pytest.approx(4.88 * 746.27 * 1600 / 4608)
    assert prior.source == "focal length and focal plane resolution"
    # the 35 mm equivalent wins where present
    tagged = replace(sequoia, focal_35mm=28.0)
    assert focal_prior(tagged, 1600, 1200, 4608).focal_px == pytest.approx(
        focal_px_from_35mm(28.0, 1600, 1200)
    )
    assert focal_prior(base, 1600, 1200, 4608) == FocalPrior(None, "none in EXIF")


def test_focal_plane_resolution_units_are_read(tmp_path):
    exif = {
        piexif.ExifIFD.FocalLength: (488, 100),
        piexif.ExifIFD.FocalPlaneXResolution: (7462687, 1000),  # per cm: 746.27 px/mm
        piexif.ExifIFD.FocalPlaneYResolution: (7462687, 1000),
        piexif.ExifIFD.FocalPlaneResolutionUnit: 3,
        piexif.ExifIFD.PixelXDimension: 4608,
    }
    path = tmp_path / "plane.jpg"
    Image.new("RGB", (64, 48)).save(path, exif=piexif.dump({"Exif": exif}))
    with Image.open(path) as im:
        info = read_exif(im)
    assert info.focal_mm == pytest.approx(4.88)
    assert info.focal_plane_px_per_mm == pytest.approx(746.2687)
    assert info.exif_long_side == 4608
