"""Which GPS fixes the stage uses: a fix repeated from the previous photo is not a measurement."""

from spaceport_sfm.exif import GeoPosition, PhotoExif
from spaceport_sfm.gps_quality import repeated_fixes
from spaceport_sfm.photos import Photo
from spaceport_sfm.stage import usable_fixes


def _photo(i: int, north_m: float | None) -> Photo:
    gps = None if north_m is None else GeoPosition(55.7 + north_m / 111_320, 13.2, 60.0, True)
    exif = PhotoExif("phone", "X", f"2024:05:01 12:00:{i:02d}", 4.0, gps)
    return Photo(f"{i:02d}.jpg", f"{i:02d}.jpg", 400, 300, 400, 300, exif, 350.0)


def test_a_repeated_fix_is_named_and_left_out():
    # photo 3 repeats photo 2's fix (a phone without a new fix); photo 5 has none
    photos = [_photo(i, north) for i, north in enumerate([0, 5, 10, 10, 20, None])]
    names = [p.name for p in photos]
    assert repeated_fixes(names, [p.exif.gps for p in photos]) == [names[3]]
    assert list(usable_fixes(photos)) == [names[0], names[1], names[2], names[4]]


def test_a_new_fix_at_the_same_height_is_not_a_repeat():
    a = GeoPosition(46.84, -91.99, 40.0, True)
    b = GeoPosition(46.84, -91.99000001, 40.0, True)  # ~1 mm east
    assert repeated_fixes(["a", "b", "c"], [a, b, None]) == []
