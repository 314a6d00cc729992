"""Safe internal names for the user's files: what COLMAP, the pair list and the output use.

pycolmap's pair list (`pairs.txt`) and COLMAP's text formats separate fields by whitespace, and
a file name reaches shell-like tools, S3 keys and other operating systems later on. So every
photo gets a name of ASCII letters, digits, `_`, `-` and `.` only, unique by its index, with a
readable trace of the user's name; the user's own name (`Photo.source`) is kept beside it for
everything a person reads. `image_names.json` (`spaceport_shared.contract.IMAGE_NAMES_NAME`)
in the output maps one to the other.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path, PurePosixPath

_SLUG_CHARS = 40  # enough to recognise the file, short enough for every file system
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _slug(user_name: str) -> str:
    stem = PurePosixPath(user_name).stem
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    slug = _UNSAFE.sub("_", ascii_stem).strip("_.-")
    return slug[:_SLUG_CHARS].rstrip("_.-") or "photo"


def internal_name(index: int, user_name: str) -> str:
    """`00042_IMG_0001.jpg` for the 43rd file: unique by `index`, never starting with `-`."""
    return f"{index:05d}_{_slug(user_name)}.jpg"


def write_names(path: Path, sources: dict[str, str]) -> None:
    """`image_names.json`: each internal name with the name the user uploaded it under."""
    path.write_text(json.dumps(dict(sorted(sources.items())), indent=1, ensure_ascii=False))
