"""Checking an upload before it becomes a job: a .zip of photos, or the files of a folder.

Every refusal is one SpaceportError sentence for the page, and leaves nothing behind: the
photos are written into a staging folder that is removed unless the whole upload is good.
Archive members go through spaceport_shared.archive (paths outside the folder, links and
oversized archives refused); a folder's file names are checked the same way.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

from spaceport_shared.archive import extract_archive, is_archive
from spaceport_shared.errors import SpaceportError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
MIN_PHOTOS = 3  # structure from motion's own minimum (spaceport_sfm.stage.MIN_IMAGES)
DEFAULT_MAX_BYTES = 4 * 1024**3
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Upload:
    name: str  # the client's file name, a relative path for a folder's files
    stream: BinaryIO


def _safe_name(name: str) -> PurePosixPath:
    rel = PurePosixPath(name.replace("\\", "/"))
    if not rel.parts or rel.is_absolute() or ".." in rel.parts or ":" in rel.parts[0]:
        raise SpaceportError(
            f"The upload names a file outside its folder ({name}); upload the photos themselves."
        )
    return rel


def _copy(stream: BinaryIO, dest: Path, budget: int) -> int:
    written = 0
    with open(dest, "wb") as out:
        while chunk := stream.read(_CHUNK):
            written += len(chunk)
            if written > budget:
                raise _too_large(budget)
            out.write(chunk)
    return written


def _too_large(limit: int) -> SpaceportError:
    return SpaceportError(
        f"The upload is larger than the {limit / 1024**3:.1f} GiB this server accepts; "
        "upload fewer or smaller photos (or start it with a larger --max-upload-gb)."
    )


def _is_image(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            image.verify()
        return True
    except (UnidentifiedImageError, OSError, SyntaxError):
        return False


def stage_upload(uploads: Iterable[Upload], dest: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> int:
    """Write the photos of `uploads` into the new folder `dest`; returns how many there are."""
    dest = Path(dest)
    dest.mkdir(parents=True)
    try:
        budget = max_bytes
        for upload in uploads:
            rel = _safe_name(upload.name)
            target = dest.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            budget -= _copy(upload.stream, target, budget)
            if is_archive(target):
                extract_archive(target, target.parent, max_bytes=max_bytes)
                target.unlink()
        files = [p for p in dest.rglob("*") if p.is_file()]
        if sum(p.stat().st_size for p in files) > max_bytes:
            raise _too_large(max_bytes)
        photos = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES and _is_image(p)]
        if not files:
            raise SpaceportError("The upload holds no files; choose a .zip or a folder of photos.")
        if not photos:
            raise SpaceportError(
                f"None of the {len(files)} uploaded files is a photo (JPEG, PNG or TIFF); "
                "upload the drone's photos."
            )
        if len(photos) < MIN_PHOTOS:
            raise SpaceportError(
                f"The upload holds {len(photos)} photos; structure from motion needs at least "
                f"{MIN_PHOTOS} overlapping photos, so upload more."
            )
        return len(photos)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
