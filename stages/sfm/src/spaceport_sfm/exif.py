"""What a photo's EXIF says about where it was taken and with which lens (Pillow's reader)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace

from PIL import Image

from spaceport_sfm.xmp import stated_accuracy

# EXIF tag numbers (EXIF 2.32 / TIFF 6.0)
_MAKE, _MODEL, _DATETIME = 0x010F, 0x0110, 0x0132
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DATETIME_ORIGINAL = 0x9003
_FOCAL_35MM = 0xA405
_FOCAL_LENGTH = 0x920A
_EXIF_WIDTH, _EXIF_HEIGHT = 0xA002, 0xA003
_FOCAL_PLANE_X_RES, _FOCAL_PLANE_Y_RES, _FOCAL_PLANE_UNIT = 0xA20E, 0xA20F, 0xA210
# FocalPlaneResolutionUnit -> millimetres per unit (EXIF 2.32: 2 inch, 3 cm; 4 mm and 5 um are
# written by some cameras, e.g. Parrot's)
_MM_PER_UNIT = {1: 25.4, 2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON, _GPS_ALT_REF, _GPS_ALT = 1, 2, 3, 4, 5, 6
_GPS_H_POSITIONING_ERROR = 0x1F  # EXIF 2.31, metres (phones write their fix's accuracy)
_XMP_PACKET = 0x02BC  # TIFF and DNG keep their XMP here; JPEG and PNG in Pillow's info["xmp"]

# The 35 mm-equivalent focal length is defined on the diagonal of a 36x24 mm frame.
FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)


@dataclass(frozen=True)
class GeoPosition:
    lat: float  # degrees, WGS84
    lon: float  # degrees, WGS84
    alt: float  # metres above the WGS84 ellipsoid as the camera wrote it (0 when absent)
    has_alt: bool
    # the receiver's own standard deviations of this fix (XMP or EXIF), metres; None: unstated
    sigma_h_m: float | None = None
    sigma_v_m: float | None = None


@dataclass(frozen=True)
class PhotoExif:
    make: str
    model: str
    taken_at: str  # "YYYY:MM:DD HH:MM:SS" or "" when absent
    focal_35mm: float | None  # 35 mm-equivalent focal length, mm
    gps: GeoPosition | None
    focal_mm: float | None = None  # FocalLength, mm
    focal_plane_px_per_mm: float | None = None  # FocalPlaneX/YResolution (mean), pixels per mm
    exif_long_side: int | None = None  # PixelX/YDimension's larger: what that resolution is of
    damaged: str = ""  # what is wrong with a damaged EXIF block, "" when it read cleanly


@dataclass(frozen=True)
class FocalPrior:
    focal_px: float | None  # at the working size; None: EXIF cannot say
    source: str  # which EXIF tags gave it, for the report


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


def _positive(value: object) -> float | None:
    try:
        number = float(value)  # IFDRational converts to float
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _focal_plane_px_per_mm(exif_ifd: dict) -> float | None:
    per_mm = _MM_PER_UNIT.get(exif_ifd.get(_FOCAL_PLANE_UNIT, 2))  # EXIF's default unit: inch
    resolutions = [_positive(exif_ifd.get(t)) for t in (_FOCAL_PLANE_X_RES, _FOCAL_PLANE_Y_RES)]
    known = [r for r in resolutions if r is not None]
    if per_mm is None or not known:
        return None
    return sum(known) / len(known) / per_mm


def read_exif(image: Image.Image) -> PhotoExif:
    """EXIF (and XMP) of an image opened by Pillow; see `parse_exif`."""
    return parse_exif(
        image.getexif, has_block=bool(image.info.get("exif")), xmp=image.info.get("xmp")
    )


def _with_accuracy(gps: GeoPosition | None, gps_ifd: dict, xmp: object) -> GeoPosition | None:
    """`gps` with the accuracy its receiver states: XMP's survey tags, else EXIF's horizontal
    positioning error."""
    if gps is None:
        return None
    stated = stated_accuracy(xmp if isinstance(xmp, (bytes, str)) else None)
    horizontal = stated.horizontal_m if stated else None
    vertical = stated.vertical_m if stated else None
    if horizontal is None:
        horizontal = _positive(gps_ifd.get(_GPS_H_POSITIONING_ERROR))
    return replace(gps, sigma_h_m=horizontal, sigma_v_m=vertical)


def parse_exif(
    load: Callable[[], Image.Exif], has_block: bool, xmp: bytes | str | None = None
) -> PhotoExif:
    """The fields this stage uses from the EXIF block `load` parses (any file format's), with
    the GPS accuracy the `xmp` packet (else the EXIF's own, tag 700) states.

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
    sides = [_positive(exif_ifd.get(t)) for t in (_EXIF_WIDTH, _EXIF_HEIGHT)]
    return PhotoExif(
        make=_text(exif.get(_MAKE)),
        model=_text(exif.get(_MODEL)),
        taken_at=_text(exif_ifd.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)),
        focal_35mm=_positive(exif_ifd.get(_FOCAL_35MM)),
        gps=_with_accuracy(_gps(gps_ifd), gps_ifd, xmp or exif.get(_XMP_PACKET)),
        focal_mm=_positive(exif_ifd.get(_FOCAL_LENGTH)),
        focal_plane_px_per_mm=_focal_plane_px_per_mm(exif_ifd),
        exif_long_side=int(max(s for s in sides if s)) if any(sides) else None,
        damaged="; ".join(dict.fromkeys(problems)),
    )


def focal_px_from_35mm(focal_35mm: float, width: int, height: int) -> float:
    """Focal length in pixels of a `width`x`height` image from its 35 mm equivalent."""
    return focal_35mm * math.hypot(width, height) / FULL_FRAME_DIAGONAL_MM


def focal_prior(info: PhotoExif, width: int, height: int, original_long_side: int) -> FocalPrior:
    """The focal length in pixels of the `width`x`height` working image, from the best EXIF
    source: the 35 mm equivalent, else FocalLength over the focal plane resolution (the
    sensor's pixels per mm, of an image with `exif_long_side`, else the original's, long side)."""
    if info.focal_35mm:
        return FocalPrior(focal_px_from_35mm(info.focal_35mm, width, height), "35 mm equivalent")
    if info.focal_mm and info.focal_plane_px_per_mm:
        long_side = info.exif_long_side or original_long_side
        focal = info.focal_mm * info.focal_plane_px_per_mm * max(width, height) / long_side
        return FocalPrior(focal, "focal length and focal plane resolution")
    return FocalPrior(None, "none in EXIF")
