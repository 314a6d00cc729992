"""The compression stage: trained model in, `scene.sog` + the `sog/` folder + metrics out."""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from spaceport_compress import __version__
from spaceport_compress.attributes import linear_opacity, log_transform
from spaceport_compress.cleanup import CleanupCounts, usable_splats
from spaceport_compress.decoder import decode_sog
from spaceport_compress.encoder import EncodeOptions, encode_model
from spaceport_compress.model_input import load_model
from spaceport_compress.morton import morton_order
from spaceport_compress.plas import plas_features, plas_order
from spaceport_compress.quality import VerificationError, verify
from spaceport_compress.settings import CompressSettings
from spaceport_compress.sog_format import (
    SogFiles,
    WebpOptions,
    encode_webp,
    read_sog,
    texture_size,
    write_bundle,
    write_folder,
)
from spaceport_shared.contract import SOG_NAME
from spaceport_shared.errors import SpaceportError
from spaceport_shared.report import Report
from spaceport_shared.splat import SplatModel

FOLDER_NAME = "sog"


def texel_order(model: SplatModel, ordering: str, seed: int = 0) -> np.ndarray:
    """The permutation [N] giving the splat stored at each texel."""
    # Z-order in the log space the positions are stored in (1% smaller than in world space)
    order = morton_order(log_transform(model.means))
    if ordering == "plas":
        width, height = texture_size(model.count)
        opacity = linear_opacity(model.opacities)
        features = plas_features(model.means, model.sh0[:, 0, :], model.scales, opacity)
        order = plas_order(features, order, width, height, seed=seed)
    return order


def encode_images_parallel(sog: SogFiles, options: WebpOptions, threads: int) -> dict[str, bytes]:
    names = sog.file_names()
    # Pillow releases the GIL while libwebp encodes, so threads encode images side by side
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        encoded = list(pool.map(lambda name: encode_webp(sog.images[name], options), names))
    return dict(zip(names, encoded))


def _clean(
    model: SplatModel, min_opacity: float, name: str, report: Report
) -> tuple[SplatModel, CleanupCounts]:
    """The usable splats; what was dropped goes into the report's warnings."""
    keep, counts = usable_splats(model, min_opacity)
    for kind, dropped in (
        ("NaN/Inf values", counts.nonfinite),
        ("a zero-length rotation", counts.zero_quat),
        (f"opacity below {min_opacity}", counts.faint),
    ):
        if dropped:
            report.warn(f"dropped {dropped} of {model.count} splats with {kind}")
    if counts.kept == 0:
        raise SpaceportError(
            f"The model {name} has no usable splats ({counts.nonfinite} with NaN/Inf values, "
            f"{counts.zero_quat} with zero rotations, {counts.faint} too faint); "
            "check the training run."
        )
    return (model.select(keep) if counts.kept < model.count else model), counts


def run(settings: CompressSettings, input_path: Path, output_dir: Path) -> Report:
    report = Report(stage="compress", version=__version__)
    threads = settings.threads or os.cpu_count() or 1
    with (
        tempfile.TemporaryDirectory(prefix="spaceport-compress-") as scratch,
        report.step("read"),
    ):
        model, ply = load_model(
            Path(input_path), Path(scratch), int(settings.max_extract_gib * 1024**3)
        )
        input_bytes = ply.stat().st_size
    with report.step("clean"):
        cleaned, counts = _clean(model, settings.min_opacity, ply.name, report)
    with report.step("order"):
        order = texel_order(cleaned, settings.ordering, settings.seed)
    options = EncodeOptions(
        palette_size=settings.sh_palette_size,
        palette_iterations=settings.sh_iterations,
        palette_nprobe=settings.sh_nprobe,
        seed=settings.seed,
        threads=threads,
        generator=f"spaceport-compress v{__version__}",
        webp=WebpOptions(method=settings.webp_method, quality=settings.webp_quality),
    )
    sog = encode_model(cleaned, order, options, step=report.step)
    with report.step("webp"):
        encoded = encode_images_parallel(sog, options.webp, threads)
    with report.step("write"):
        write_folder(sog.meta, encoded, output_dir / FOLDER_NAME)
        write_bundle(sog.meta, encoded, output_dir / SOG_NAME)
    with report.step("verify"):
        try:  # labels past our own palette raise here (no `warnings`): a bug, not a warning
            decoded = decode_sog(read_sog(output_dir / SOG_NAME))
        except SpaceportError as exc:
            raise VerificationError(f"The written {SOG_NAME} does not decode: {exc}") from exc
        errors, suspect = verify(cleaned.select(order), decoded)
        for warning in suspect:
            report.warn(warning)

    output_bytes = (output_dir / SOG_NAME).stat().st_size
    report.metrics.update(
        input_bytes=input_bytes,
        output_bytes=output_bytes,
        ratio=round(input_bytes / output_bytes, 3),
        splats_in=model.count,
        splats_out=counts.kept,
        dropped_nonfinite=counts.nonfinite,
        dropped_zero_quat=counts.zero_quat,
        dropped_faint=counts.faint,
        sh_degree=cleaned.sh_degree,
        sh_palette_size=int(sog.meta.get("shN", {}).get("count", 0)),
        bits_per_splat=round(8 * output_bytes / counts.kept, 3),
        **{name: round(value, 8) for name, value in errors.items()},
    )
    report.details["model_file"] = ply.name
    report.details["image_bytes"] = {name: len(data) for name, data in encoded.items()}
    return report
