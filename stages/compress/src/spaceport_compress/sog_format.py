"""PlayCanvas SOG version 2 on disk: `meta.json` + lossless WebP images, or a `.sog` ZIP of them.

Layout as `@playcanvas/splat-transform` 3.7.0 writes it (dist/index.mjs, `writeSogSource`):
one splat per texel, row-major from the top-left, `W = ceil(sqrt(N) / 4) * 4`,
`H = ceil(N / W / 4) * 4`, both at most 16383 (WebP's limit); `meta.json` keys in the order
version, asset, count, means, scales, quats, sh0, shN; the bundle is an uncompressed (stored)
ZIP with the images in `files` order and `meta.json` last.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image

from spaceport_shared.errors import SpaceportError

META_NAME = "meta.json"
MAX_TEXTURE_SIDE = 16383
MAX_BUNDLE_MEMBER_BYTES = 1 << 30  # a SOG image is at most 16383² RGBA texels


@dataclass(frozen=True)
class WebpOptions:
    """Pillow's lossless WebP knobs: `method` 0-6 and `quality` 0-100 both trade time for size."""

    method: int = 2
    quality: int = 75


@dataclass
class SogFiles:
    """A SOG scene in memory: its meta.json object and its images as RGBA arrays [H, W, 4]."""

    meta: dict[str, Any]
    images: dict[str, np.ndarray] = field(default_factory=dict)

    def file_names(self) -> list[str]:
        """The image names in the order meta.json lists them."""
        names: list[str] = []
        for key in ("means", "scales", "quats", "sh0", "shN"):
            if key in self.meta:
                names += list(self.meta[key]["files"])
        return names


def texture_size(count: int) -> tuple[int, int]:
    """(width, height) of every per-splat image for `count` splats."""
    width = max(4, math.ceil(math.sqrt(count) / 4) * 4)
    height = max(4, math.ceil(count / width / 4) * 4)
    if width > MAX_TEXTURE_SIDE or height > MAX_TEXTURE_SIDE:
        raise SpaceportError(
            f"{count} splats do not fit one SOG file (WebP images are at most "
            f"{MAX_TEXTURE_SIDE} texels a side); prune the model or train fewer Gaussians."
        )
    return width, height


def texels_to_image(texels: np.ndarray, width: int, height: int) -> np.ndarray:
    """[N, 4] uint8 per-splat texels -> [H, W, 4] image, the unused tail zero."""
    image = np.zeros((height * width, 4), np.uint8)
    image[: len(texels)] = texels
    return image.reshape(height, width, 4)


def image_to_texels(image: np.ndarray, count: int) -> np.ndarray:
    flat = image.reshape(-1, 4)
    if len(flat) < count:
        raise SpaceportError(
            f"A SOG image holds {len(flat)} texels but meta.json counts {count} splats; "
            "the SOG file is damaged."
        )
    return flat[:count]


def encode_webp(image: np.ndarray, options: WebpOptions) -> bytes:
    buffer = io.BytesIO()
    # exact=True keeps the RGB of texels whose alpha is 0 (a transparent splat's colour)
    Image.fromarray(image, "RGBA").save(
        buffer,
        "WEBP",
        lossless=True,
        exact=True,
        method=options.method,
        quality=options.quality,
    )
    return buffer.getvalue()


def decode_webp(data: bytes, name: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "WEBP":
                raise SpaceportError(f"The SOG image {name} is not a WebP image.")
            return np.asarray(image.convert("RGBA"))
    except (OSError, ValueError) as exc:
        raise SpaceportError(f"The SOG image {name} cannot be decoded ({exc}).") from exc


def encode_images(sog: SogFiles, options: WebpOptions) -> dict[str, bytes]:
    return {name: encode_webp(sog.images[name], options) for name in sog.file_names()}


def meta_bytes(meta: dict[str, Any]) -> bytes:
    return json.dumps(meta, separators=(",", ":")).encode("utf-8")


def write_folder(meta: dict[str, Any], encoded: dict[str, bytes], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in encoded.items():
        (folder / name).write_bytes(data)
    (folder / META_NAME).write_bytes(meta_bytes(meta))


def write_bundle(meta: dict[str, Any], encoded: dict[str, bytes], path: Path) -> None:
    # stored, not deflated: WebP is already entropy-coded, and the reference writes it so
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as bundle:
        for name, data in encoded.items():
            bundle.writestr(name, data)
        bundle.writestr(META_NAME, meta_bytes(meta))


def _parse_meta(data: bytes, where: str) -> dict[str, Any]:
    try:
        meta = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpaceportError(f"The SOG meta.json in {where} is not valid JSON ({exc}).") from exc
    if not isinstance(meta, dict) or meta.get("version") != 2:
        raise SpaceportError(
            f"The SOG meta.json in {where} is not SOG version 2; convert it with splat-transform."
        )
    for key in ("count", "means", "scales", "quats", "sh0"):
        if key not in meta:
            raise SpaceportError(f"The SOG meta.json in {where} lacks '{key}'.")
    return meta


def _safe_name(name: str, where: str) -> str:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or len(path.parts) != 1:
        raise SpaceportError(f"The SOG meta.json in {where} names a file outside it ({name}).")
    return name


def read_sog(path: Path) -> SogFiles:
    """A SOG scene from a `.sog` bundle, a folder holding meta.json, or a meta.json path."""
    path = Path(path)
    if path.is_dir():
        path = path / META_NAME
    if not path.is_file():
        raise SpaceportError(f"No SOG scene at {path}; give a .sog file or a SOG folder.")
    if zipfile.is_zipfile(path):
        return _read_bundle(path)
    meta = _parse_meta(path.read_bytes(), str(path))
    sog = SogFiles(meta)
    for name in sog.file_names():
        file = path.parent / _safe_name(name, str(path))
        if not file.is_file():
            raise SpaceportError(f"The SOG scene {path.parent} lacks its image {name}.")
        sog.images[name] = decode_webp(file.read_bytes(), name)
    return sog


def _read_bundle(path: Path) -> SogFiles:
    try:
        with zipfile.ZipFile(path) as bundle:
            members = {info.filename: info for info in bundle.infolist()}

            def read(name: str) -> bytes:
                info = members.get(name)
                if info is None:
                    raise SpaceportError(f"The SOG bundle {path.name} lacks {name}.")
                if info.file_size > MAX_BUNDLE_MEMBER_BYTES:
                    raise SpaceportError(f"The SOG bundle {path.name} has an oversized {name}.")
                return bundle.read(info)

            meta = _parse_meta(read(META_NAME), path.name)
            sog = SogFiles(meta)
            for name in sog.file_names():
                sog.images[name] = decode_webp(read(_safe_name(name, path.name)), name)
            return sog
    except zipfile.BadZipFile as exc:
        raise SpaceportError(f"The SOG bundle {path.name} is damaged ({exc}).") from exc
