"""What a photo's EXIF says about where it was taken and with which lens (Pillow's reader)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

# EXIF tag numbers (EXIF 2.32 / TIFF 6.0)
_MAKE, _MODEL, _DATETIME = 0x010F, 0x0110, 0x0132
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DATETIME_ORIGINAL = 0x9003
_FOCAL_35MM = 0xA405
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON, _GPS_ALT_REF, _GPS_ALT = 1, 2, 3, 4, 5, 6

# The 35 mm-equivalent focal length is defined on the diagonal of a 36x24 mm frame.
FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)


@dataclass(frozen=True)
class GeoPosition:
    lat: float  # degrees, WGS84
    lon: float  # degrees, WGS84
    alt: float  # metres above the WGS84 ellipsoid as the camera wrote it (0 when absent)
    has_alt: bool


@dataclass(frozen=True)
class PhotoExif:
    make: str
    model: str
    taken_at: str  # "YYYY:MM:DD HH:MM:SS" or "" when absent
    focal_35mm: float | None  # 35 mm-equivalent focal length, mm
    gps: GeoPosition | None
    damaged: str = ""  # what is wrong with a damaged EXIF block, "" when it read cleanly


def _text(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "ignore")
    return str(value).strip("\x00 ").strip() if value is not None else ""


def _degrees(dms: object, ref: object, negative: str) -> float | None:
    try:
        d, m, s = (float(x) for x in dms)  # IFDRational converts to float
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    value = d + m / 60.0 + s / 3600.0
    if not math.isfinite(value):
        return None
    return -value if _text(ref).upper() == negative else value


def _gps(gps_ifd: dict) -> GeoPosition | None:
    if not gps_ifd:
        return None
    lat = _degrees(gps_ifd.get(_GPS_LAT), gps_ifd.get(_GPS_LAT_REF), "S")
    lon = _degrees(gps_ifd.get(_GPS_LON), gps_ifd.get(_GPS_LON_REF), "W")
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    if lat == 0.0 and lon == 0.0:  # cameras write 0/0 when they have no fix
        return None
    alt, has_alt = 0.0, False
    raw_alt = gps_ifd.get(_GPS_ALT)
    if raw_alt is not None:
        try:
            alt = float(raw_alt)
            has_alt = math.isfinite(alt)
        except (TypeError, ValueError, ZeroDivisionError):
            alt = 0.0
        if not has_alt:
            alt = 0.0
        ref = gps_ifd.get(_GPS_ALT_REF)
        below = ref in (1, b"\x01") or (isinstance(ref, bytes) and ref[:1] == b"\x01")
        if below:
            alt = -alt
    return GeoPosition(lat=lat, lon=lon, alt=alt, has_alt=has_alt)


def read_exif(image: Image.Image) -> PhotoExif:
    """EXIF of an image opened by Pillow; see `parse_exif`."""
    return parse_exif(image.getexif, has_block=bool(image.info.get("exif")))


def parse_exif(load: Callable[[], Image.Exif], has_block: bool) -> PhotoExif:
    """The fields this stage uses from the EXIF block `load` parses (any file format's).

    Missing fields become None or "". A damaged block (Pillow warns "Corrupt EXIF data", an IFD
    pointer leads nowhere, or a block that is there parses to nothing) is said in `damaged`, so
    the stage warns instead of treating the photo as one without GPS or focal length.
    """
    problems = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            exif = load()
            exif_ifd = exif.get_ifd(_EXIF_IFD)
            gps_ifd = exif.get_ifd(_GPS_IFD)
        except Exception as exc:  # Pillow raises anything from struct.error to SyntaxError
            exif, exif_ifd, gps_ifd = Image.Exif(), {}, {}
            problems.append(f"{type(exc).__name__}: {exc}")
    problems += [" ".join(str(w.message).split()) for w in caught]
    if has_block and len(exif) == 0:
        problems.append("no tag could be read")
    for tag, ifd, what in ((_EXIF_IFD, exif_ifd, "camera"), (_GPS_IFD, gps_ifd, "GPS")):
        if tag in exif and not ifd:
            problems.append(f"its {what} section is missing")
    focal_35mm = None
    raw = exif_ifd.get(_FOCAL_35MM)
    try:
        if raw is not None and float(raw) > 0:
            focal_35mm = float(raw)
    except (TypeError, ValueError, ZeroDivisionError):
        focal_35mm = None
    return PhotoExif(
        make=_text(exif.get(_MAKE)),
        model=_text(exif.get(_MODEL)),
        taken_at=_text(exif_ifd.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)),
        focal_35mm=focal_35mm,
        gps=_gps(gps_ifd),
        damaged="; ".join(dict.fromkeys(problems)),
    )


def focal_px_from_35mm(focal_35mm: float, width: int, height: int) -> float:
    """Focal length in pixels of a `width`x`height` image from its 35 mm equivalent."""
    return focal_35mm * math.hypot(width, height) / FULL_FRAME_DIAGONAL_MM
