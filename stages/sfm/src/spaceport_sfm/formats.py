"""Which decoder opens an uploaded file, and what it yields: pixels, format, EXIF, orientation.

- JPEG, PNG, TIFF: Pillow.
- HEIC/HEIF (phones): pillow-heif, registered as a Pillow plugin; libheif applies the file's
  rotation while decoding and reports orientation 1.
- DNG (drone and phone raw): rawpy (LibRaw) develops the raw with the camera's white balance;
  Pillow cannot decode the CFA data, but reads the DNG's TIFF tags, where its EXIF and GPS live.
- Other camera raws (CR2, NEF, ARW, ...) are refused by name: Pillow would open some of them as
  TIFF and silently use the small embedded preview.

Files are recognised by their content (Pillow), raws by their suffix (LibRaw needs to be told).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pillow_heif
import rawpy
from PIL import Image

from spaceport_sfm.exif import PhotoExif, parse_exif, read_exif

pillow_heif.register_heif_opener()

DNG_SUFFIXES = {".dng"}
OTHER_RAW_SUFFIXES = {".cr2", ".cr3", ".nef", ".nrw", ".arw", ".raf", ".orf", ".rw2", ".pef"}
OTHER_RAW_SUFFIXES |= {".srw", ".3fr", ".iiq", ".rwl", ".x3f"}
# Pillow's format name -> the kind reported; MPO is a JPEG with extra frames (some cameras)
PILLOW_FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "TIFF": "TIFF", "HEIF": "HEIF"}
ACCEPTED = "JPEG, PNG, TIFF, HEIC or DNG"
_ORIENTATION = 0x0112


class UnsupportedPhotoError(OSError):
    """A file that is an image, but not in a format this stage reads (the reason is its text)."""


@dataclass
class OpenedPhoto:
    image: Image.Image  # pixels as stored; `orientation` says how to turn them upright
    kind: str  # JPEG | PNG | TIFF | HEIF | DNG
    exif: PhotoExif
    orientation: int  # EXIF orientation, 1 = upright


def _develop_dng(path: Path) -> OpenedPhoto:
    try:
        with rawpy.imread(str(path)) as raw:
            # 8-bit sRGB at the camera's white balance; LibRaw applies the DNG's orientation
            rgb = raw.postprocess(use_camera_wb=True, output_bps=8)
    except rawpy.LibRawError as exc:
        raise OSError(f"LibRaw cannot develop this DNG: {exc}") from exc

    def load() -> Image.Exif:
        exif = Image.Exif()
        exif.load(path.read_bytes())  # a DNG is a TIFF: its IFD0 and sub-IFDs hold the EXIF
        return exif

    return OpenedPhoto(Image.fromarray(rgb), "DNG", parse_exif(load, has_block=True), 1)


@contextmanager
def open_photo(path: Path) -> Iterator[OpenedPhoto]:
    """Open `path` as a photo; OSError (or Pillow's errors) when it is not one this stage reads."""
    suffix = path.suffix.lower()
    if suffix in OTHER_RAW_SUFFIXES:
        raise UnsupportedPhotoError(
            f"a {suffix[1:].upper()} camera raw file, which is not read; upload the camera's "
            "JPEGs or convert the raws to DNG"
        )
    if suffix == ".srt":  # the ones beside a video are used by video.py before this
        raise UnsupportedPhotoError("flight telemetry without a video of the same name beside it")
    if suffix in DNG_SUFFIXES:
        yield _develop_dng(path)
        return
    with Image.open(path) as image:
        kind = PILLOW_FORMATS.get(image.format or "")
        if kind is None:
            raise UnsupportedPhotoError(f"not a {ACCEPTED} photo ({image.format})")
        exif = read_exif(image)
        orientation = image.getexif().get(_ORIENTATION, 1) if not exif.damaged else 1
        yield OpenedPhoto(image, kind, exif, orientation or 1)
