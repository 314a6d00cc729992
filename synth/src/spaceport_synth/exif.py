"""EXIF as a drone writes it: GPS position, focal length (and its 35 mm equivalent), camera make
and model, capture time. Read back with the same library (piexif) in tests and tools."""

from __future__ import annotations

import math
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import piexif

MAKE = "Spaceport"
MODEL = "Synthetic Survey Camera"
_SECONDS_DENOMINATOR = 1_000_000  # 1e-6 arc-second steps: ~0.03 mm on the ground
_MM = 1000  # altitude in millimetres


def _dms(value_deg: float) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    value = abs(value_deg)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round((value - degrees - minutes / 60) * 3600 * _SECONDS_DENOMINATOR)
    if seconds >= 60 * _SECONDS_DENOMINATOR:  # rounding carried into the next minute
        seconds -= 60 * _SECONDS_DENOMINATOR
        minutes += 1
    if minutes == 60:
        minutes, degrees = 0, degrees + 1
    return (degrees, 1), (minutes, 1), (seconds, _SECONDS_DENOMINATOR)


def _rational(value: float, limit: int = 100_000) -> tuple[int, int]:
    f = Fraction(value).limit_denominator(limit)
    return f.numerator, f.denominator


def exif_bytes(
    *,
    lat: float,
    lon: float,
    alt: float,
    width: int,
    height: int,
    focal_px: float,
    sensor_width_mm: float,
    taken_at: datetime,
    focal_35mm_tag: bool = True,
    gps_accuracy_m: float | None = None,
) -> bytes:
    pixel_mm = sensor_width_mm / width
    focal_mm = focal_px * pixel_mm
    diagonal_mm = math.hypot(width, height) * pixel_mm
    # 35 mm equivalent by the diagonal (the standard definition): 43.27 mm is the full-frame one.
    focal_35mm = round(focal_mm * math.hypot(36.0, 24.0) / diagonal_mm)
    stamp = taken_at.strftime("%Y:%m:%d %H:%M:%S")
    pixels_per_cm = 10.0 / pixel_mm
    data = {
        "0th": {
            piexif.ImageIFD.Make: MAKE,
            piexif.ImageIFD.Model: MODEL,
            piexif.ImageIFD.Software: "spaceport synth",
            piexif.ImageIFD.DateTime: stamp,
            piexif.ImageIFD.Orientation: 1,
        },
        "Exif": {
            piexif.ExifIFD.DateTimeOriginal: stamp,
            piexif.ExifIFD.DateTimeDigitized: stamp,
            piexif.ExifIFD.FocalLength: _rational(focal_mm),
            piexif.ExifIFD.FocalLengthIn35mmFilm: focal_35mm,
            piexif.ExifIFD.PixelXDimension: width,
            piexif.ExifIFD.PixelYDimension: height,
            piexif.ExifIFD.FocalPlaneXResolution: _rational(pixels_per_cm),
            piexif.ExifIFD.FocalPlaneYResolution: _rational(pixels_per_cm),
            piexif.ExifIFD.FocalPlaneResolutionUnit: 3,  # centimetres
        },
        "GPS": {
            piexif.GPSIFD.GPSVersionID: (2, 3, 0, 0),
            piexif.GPSIFD.GPSLatitudeRef: "N" if lat >= 0 else "S",
            piexif.GPSIFD.GPSLatitude: _dms(lat),
            piexif.GPSIFD.GPSLongitudeRef: "E" if lon >= 0 else "W",
            piexif.GPSIFD.GPSLongitude: _dms(lon),
            piexif.GPSIFD.GPSAltitudeRef: 0 if alt >= 0 else 1,
            piexif.GPSIFD.GPSAltitude: (round(abs(alt) * _MM), _MM),
            piexif.GPSIFD.GPSMapDatum: "WGS-84",
        },
    }
    if gps_accuracy_m is not None:  # EXIF 2.31's horizontal positioning error, metres
        data["GPS"][piexif.GPSIFD.GPSHPositioningError] = _rational(gps_accuracy_m)
    if not focal_35mm_tag:  # as some cameras write it: the focal plane resolution only
        del data["Exif"][piexif.ExifIFD.FocalLengthIn35mmFilm]
    return piexif.dump(data)


def read_gps(path: Path) -> tuple[float, float, float]:
    """(lat degrees, lon degrees, alt metres) from a JPEG's EXIF."""
    gps = piexif.load(str(path))["GPS"]

    def degrees(dms, ref: bytes, negative: bytes) -> float:
        value = sum(n / d / 60**k for k, (n, d) in enumerate(dms))
        return -value if ref == negative else value

    lat = degrees(gps[piexif.GPSIFD.GPSLatitude], gps[piexif.GPSIFD.GPSLatitudeRef], b"S")
    lon = degrees(gps[piexif.GPSIFD.GPSLongitude], gps[piexif.GPSIFD.GPSLongitudeRef], b"W")
    n, d = gps[piexif.GPSIFD.GPSAltitude]
    alt = n / d * (-1 if gps.get(piexif.GPSIFD.GPSAltitudeRef, 0) == 1 else 1)
    return lat, lon, alt
