"""Safe extraction of the archives users and SageMaker hand over (photo zips, model.tar.gz).

Paths inside an archive are never trusted: a member whose path is absolute or climbs out of the
destination, a link, or a device is refused, and so is an archive whose members add up to more
than `max_bytes` (checked on the declared sizes and again on the bytes actually written, since
zip headers can lie).
"""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from spaceport_shared.errors import SpaceportError

DEFAULT_MAX_BYTES = 20 * 1024**3  # 20 GiB: a 500-photo flight at 40 MB a photo fits
_CHUNK = 1 << 20


def is_archive(path: Path) -> bool:
    name = Path(path).name.lower()
    return name.endswith((".zip", ".tar", ".tar.gz", ".tgz"))


def _safe_relative(archive: Path, name: str) -> PurePosixPath:
    rel = PurePosixPath(name.replace("\\", "/"))
    if rel.is_absolute() or ".." in rel.parts or (rel.parts and ":" in rel.parts[0]):
        raise SpaceportError(
            f"The archive {archive.name} holds a path outside its folder ({name}); "
            "re-create it with relative paths only."
        )
    return rel


def _too_big(archive: Path, max_bytes: int) -> SpaceportError:
    return SpaceportError(
        f"The archive {archive.name} expands to more than {max_bytes / 1024**3:.1f} GiB; "
        "upload fewer or smaller files."
    )


def _extract_zip(archive: Path, dest: Path, max_bytes: int) -> list[Path]:
    written: list[Path] = []
    total = 0
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        for info in members:
            _safe_relative(archive, info.filename)
            mode = info.external_attr >> 16
            if (mode & 0o170000) == 0o120000:
                raise SpaceportError(
                    f"The archive {archive.name} holds a symbolic link ({info.filename}); "
                    "re-create it with plain files only."
                )
        if sum(i.file_size for i in members) > max_bytes:
            raise _too_big(archive, max_bytes)
        for info in members:
            if info.is_dir():
                continue
            target = dest / _safe_relative(archive, info.filename)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                while chunk := src.read(_CHUNK):
                    total += len(chunk)
                    if total > max_bytes:
                        raise _too_big(archive, max_bytes)
                    out.write(chunk)
            written.append(target)
    return written


def _extract_tar(archive: Path, dest: Path, max_bytes: int) -> list[Path]:
    written: list[Path] = []
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        for member in members:
            _safe_relative(archive, member.name)
            if not (member.isfile() or member.isdir()):
                raise SpaceportError(
                    f"The archive {archive.name} holds a link or special file ({member.name}); "
                    "re-create it with plain files only."
                )
        if sum(m.size for m in members if m.isfile()) > max_bytes:
            raise _too_big(archive, max_bytes)
        for member in members:
            if member.isfile():
                # Written as plain bytes (no owner, mode or time from the archive), as for zip;
                # not tf.extract(filter="data"), which Python 3.11 before 3.11.4 (Debian
                # bookworm's 3.11.2) lacks.
                target = dest / _safe_relative(archive, member.name)
                target.parent.mkdir(parents=True, exist_ok=True)
                with tf.extractfile(member) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
                written.append(target)
    return written


def extract_archive(archive: Path, dest: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Path]:
    """Extract a .zip, .tar, .tar.gz or .tgz into `dest`; return the files written.

    On any refusal nothing stays behind in `dest` from this archive.
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    staging = dest / f".extract-{archive.name}"
    staging.mkdir()
    try:
        if zipfile.is_zipfile(archive):
            files = _extract_zip(archive, staging, max_bytes)
        elif tarfile.is_tarfile(archive):
            files = _extract_tar(archive, staging, max_bytes)
        else:
            raise SpaceportError(
                f"The file {archive.name} is not a readable zip or tar archive; upload it again."
            )
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise SpaceportError(
            f"The archive {archive.name} is damaged ({exc}); upload it again."
        ) from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    moved = []
    for path in files:
        rel = path.relative_to(staging)
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        path.replace(target)
        moved.append(target)
    shutil.rmtree(staging, ignore_errors=True)
    return moved
