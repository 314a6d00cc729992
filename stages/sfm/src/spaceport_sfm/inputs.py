"""Find the user's photos: a folder (nested, any extension case) and/or .zip archives of them.

Which files are images is decided by reading them (Pillow), not by their extension, in
`photos.py`; this module only lists candidate files and unpacks archives safely.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from spaceport_shared.archive import extract_archive, is_archive

# Files every OS or archiver leaves behind; skipped without a warning.
_SYSTEM_NAMES = {".ds_store", "thumbs.db", "desktop.ini"}


@dataclass(frozen=True)
class Candidate:
    path: Path  # the file on disk
    name: str  # its path relative to the upload (posix), archives as "<archive>/<member>"


def _is_system_file(rel_parts: tuple[str, ...]) -> bool:
    return (
        rel_parts[-1].lower() in _SYSTEM_NAMES
        or rel_parts[-1].startswith("._")
        or "__MACOSX" in rel_parts
    )


def _walk(root: Path, prefix: str) -> list[Candidate]:
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(root)
        if _is_system_file(rel.parts):
            continue
        found.append(Candidate(path=path, name=f"{prefix}{rel.as_posix()}"))
    return found


def gather_candidates(input_path: Path, scratch: Path, max_bytes: int) -> list[Candidate]:
    """Every file the upload holds, with archives (also nested in folders) unpacked below
    `scratch`. Unsafe archives raise `SpaceportError` (from `extract_archive`)."""
    input_path = Path(input_path)
    if input_path.is_file():
        top = [Candidate(path=input_path, name=input_path.name)]
    else:
        top = _walk(input_path, "")
    files: list[Candidate] = []
    for index, cand in enumerate(top):
        if not is_archive(cand.path):
            files.append(cand)
            continue
        dest = scratch / "archives" / str(index)
        extract_archive(cand.path, dest, max_bytes=max_bytes)
        files.extend(_walk(dest, f"{cand.name}/"))
    return files
