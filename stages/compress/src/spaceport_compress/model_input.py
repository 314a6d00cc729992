"""Finding and reading the trained model: a PLY file, a folder holding one, or the training
job's `model.tar.gz` as SageMaker hands it to the processing job."""

from __future__ import annotations

from pathlib import Path

from spaceport_shared.archive import extract_archive, is_archive
from spaceport_shared.errors import SpaceportError
from spaceport_shared.ply import read_ply
from spaceport_shared.splat import SplatModel

PREFERRED_NAME = "scene.ply"  # what the training stage writes into /opt/ml/model


def _pick_ply(plys: list[Path], where: Path) -> Path:
    if len(plys) == 1:
        return plys[0]
    preferred = [p for p in plys if p.name == PREFERRED_NAME]
    if len(preferred) == 1:
        return preferred[0]
    if not plys:
        raise SpaceportError(
            f"No .ply model in {where}; give a 3DGS PLY or the training job's model.tar.gz."
        )
    names = ", ".join(sorted(p.name for p in plys)[:5])
    raise SpaceportError(f"{where} holds several PLY files ({names}); give the one to compress.")


def find_model(input_path: Path, scratch: Path, max_bytes: int) -> Path:
    """The PLY to compress; archives are extracted (safely, bounded) into `scratch`."""
    input_path = Path(input_path)
    if input_path.is_file() and input_path.suffix.lower() == ".ply":
        return input_path
    if input_path.is_file() and is_archive(input_path):
        files = extract_archive(input_path, scratch, max_bytes=max_bytes)
        return _pick_ply([f for f in files if f.suffix.lower() == ".ply"], input_path)
    if input_path.is_dir():
        plys = sorted(p for p in input_path.rglob("*.ply") if p.is_file())
        if plys:
            return _pick_ply(plys, input_path)
        archives = sorted(p for p in input_path.rglob("*") if p.is_file() and is_archive(p))
        if len(archives) == 1:
            return find_model(archives[0], scratch, max_bytes)
        if len(archives) > 1:
            names = ", ".join(p.name for p in archives[:5])
            raise SpaceportError(f"{input_path} holds several archives ({names}); give one.")
        raise SpaceportError(
            f"No .ply model in {input_path}; give a 3DGS PLY or the training job's model.tar.gz."
        )
    raise SpaceportError(
        f"The input {input_path} is neither a .ply file, a .tar.gz/.zip archive nor a folder; "
        "give the trained model."
    )


_SIZES = {"char": 1, "uchar": 1, "int8": 1, "uint8": 1, "short": 2, "ushort": 2, "int16": 2}
_SIZES |= {"uint16": 2, "int": 4, "uint": 4, "int32": 4, "uint32": 4, "float": 4, "float32": 4}
_SIZES |= {"double": 8, "float64": 8}
_END = b"end_header\n"


def _declared_body_bytes(header: list[str]) -> int | None:
    """Bytes the rows of a binary PLY header need; None for ASCII or list properties."""
    if not header or not header[0].startswith("format binary"):
        return None
    total, count = 0, 0
    for line in header:
        words = line.split()
        if words[:1] == ["element"] and len(words) == 3:
            count = int(words[2])
        elif words[:1] == ["property"]:
            if words[1] == "list" or words[1] not in _SIZES:
                return None
            total += count * _SIZES[words[1]]
    return total


def check_length(ply: Path) -> None:
    """A binary PLY is exactly its header and the rows it declares: bytes beyond them mean a
    damaged vertex count (splats silently dropped) or joined files. plyfile reads the declared
    rows and ignores the rest, so this is checked here; a file cut short plyfile refuses."""
    with ply.open("rb") as f:
        head = f.read(64 * 1024)
    end = head.find(_END)
    if not head.startswith(b"ply\n") or end < 0:
        return  # read_ply names what is wrong
    try:
        lines = head[len(b"ply\n") : end].decode("ascii").splitlines()
        declared = _declared_body_bytes([line.strip() for line in lines if line.strip()])
    except (UnicodeDecodeError, ValueError, IndexError):
        return  # a malformed header: read_ply names what is wrong
    body = ply.stat().st_size - end - len(_END)
    if declared is not None and body > declared:
        raise SpaceportError(
            f"The splat file {ply} is damaged: {body - declared} bytes follow the splats its "
            "header declares; export the trained model again."
        )


def load_model(input_path: Path, scratch: Path, max_bytes: int) -> tuple[SplatModel, Path]:
    ply = find_model(input_path, scratch, max_bytes)
    try:
        check_length(ply)
        return read_ply(ply), ply
    except SpaceportError as exc:
        if not ply.is_relative_to(scratch):
            raise
        # name the member as the user knows it, not our scratch path
        shown = f"{Path(input_path).name}:{ply.relative_to(scratch).as_posix()}"
        raise SpaceportError(str(exc).replace(str(ply), shown)) from exc
