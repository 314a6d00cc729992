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


def load_model(input_path: Path, scratch: Path, max_bytes: int) -> tuple[SplatModel, Path]:
    ply = find_model(input_path, scratch, max_bytes)
    return read_ply(ply), ply
