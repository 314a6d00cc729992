"""Read each candidate file as a photo and write its working copy for pycolmap.

The working copy is upright (EXIF orientation applied, which COLMAP ignores), 8-bit RGB JPEG and
at most `max_image_size` pixels on its long side: features, the model and the undistorted output
all live at this size, so a 20 MP drone photo costs what a 2 MP one does. Files Pillow cannot
decode are skipped with the reason, never fatal by themselves.
"""

from __future__ import annotations

import math
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from spaceport_sfm.exif import PhotoExif, focal_prior, read_exif
from spaceport_sfm.inputs import Candidate

_FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "TIFF": "TIFF"}
_ORIENTATION = 0x0112
_ROTATED = {5, 6, 7, 8}  # EXIF orientations that swap width and height
_JPEG_QUALITY = 95


@dataclass(frozen=True)
class Photo:
    name: str  # working image name (posix path, relative); also its COLMAP image name
    source: str  # the name the user uploaded it under
    width: int  # working image size in pixels, upright
    height: int
    original_width: int  # upright size of the uploaded photo
    original_height: int
    exif: PhotoExif
    focal_px: float | None  # focal length prior at working size, None when EXIF lacks it
    focal_source: str = ""  # the EXIF tags `focal_px` comes from

    @property
    def camera_key(self) -> tuple:
        """Photos sharing this key share one camera (intrinsics) in the model."""
        focal = round(self.focal_px, 1) if self.focal_px else None
        return (self.exif.make, self.exif.model, self.width, self.height, focal)


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str


def _working_name(name: str) -> str:
    return name if name.lower().endswith((".jpg", ".jpeg")) else f"{name}.jpg"


def _to_8bit_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit / float greyscale (some TIFFs): stretch to 8 bits rather than clip
        array = np.asarray(image, dtype=np.float64)
        high = float(array.max()) or 1.0
        image = Image.fromarray(np.clip(array / high * 255.0, 0, 255).astype(np.uint8))
    return image.convert("RGB")


def _prepare_one(cand: Candidate, work_dir: Path, max_image_size: int) -> Photo | Skipped:
    try:
        with Image.open(cand.path) as image:
            fmt = _FORMATS.get(image.format or "")
            if fmt is None:
                return Skipped(cand.name, f"not a JPEG, PNG or TIFF photo ({image.format})")
            info = read_exif(image)
            orientation = image.getexif().get(_ORIENTATION, 1)
            width, height = image.size
            if orientation in _ROTATED:
                width, height = height, width
            scale = min(1.0, max_image_size / max(width, height))
            out_w, out_h = max(1, round(width * scale)), max(1, round(height * scale))
            name = _working_name(cand.name)
            dest = work_dir / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            upright = orientation in (None, 0, 1)
            if fmt == "JPEG" and scale == 1.0 and upright and image.mode in ("RGB", "L"):
                image.load()  # decode fully: a truncated or corrupt file fails here
                shutil.copyfile(cand.path, dest)
            else:
                if fmt == "JPEG":
                    # let libjpeg decode at 1/2, 1/4 or 1/8 scale: most of the shrink for free
                    draft_size = (out_h, out_w) if orientation in _ROTATED else (out_w, out_h)
                    image.draft("RGB", draft_size)
                image.load()
                frame = _to_8bit_rgb(ImageOps.exif_transpose(image))
                if frame.size != (out_w, out_h):
                    frame = frame.resize((out_w, out_h), Image.Resampling.LANCZOS)
                frame.save(dest, "JPEG", quality=_JPEG_QUALITY)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return Skipped(cand.name, f"unreadable image ({type(exc).__name__}: {exc})")
    prior = focal_prior(info, out_w, out_h, max(width, height))
    focal = prior.focal_px
    return Photo(
        name=name,
        source=cand.name,
        width=out_w,
        height=out_h,
        original_width=width,
        original_height=height,
        exif=info,
        focal_px=focal if focal and math.isfinite(focal) else None,
        focal_source=prior.source,
    )


def prepare_photos(
    candidates: list[Candidate], work_dir: Path, *, max_image_size: int, threads: int
) -> tuple[list[Photo], list[Skipped]]:
    """Working copies of every readable photo, in capture order (EXIF time, then name);
    `threads` 0 uses every core."""
    work_dir.mkdir(parents=True, exist_ok=True)
    workers = threads if threads > 0 else None
    # Pillow releases the GIL while decoding, resizing and encoding, so threads scale.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda c: _prepare_one(c, work_dir, max_image_size), candidates))
    photos = [r for r in results if isinstance(r, Photo)]
    skipped = [r for r in results if isinstance(r, Skipped)]
    photos.sort(key=lambda p: (p.exif.taken_at or "~", p.name))
    return photos, skipped
