"""`spaceport synth OUT_DIR [--preset demo|test|large] [--seed N] [--colmap] [--origin LAT,LON,ALT]
[--forward-overlap F] [--side-overlap S]`."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from spaceport_shared.errors import SpaceportError

from .colmap_model import write_colmap_model
from .geodesy import GeoOrigin
from .presets import PRESETS, get_preset
from .survey import DEFAULT_ORIGIN, generate


def _origin(text: str) -> GeoOrigin:
    try:
        parts = [float(v) for v in text.split(",")]
        if len(parts) not in (2, 3):
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--origin takes LAT,LON or LAT,LON,ALT in degrees and metres, not {text!r}"
        ) from None
    return GeoOrigin(*parts)


def _fraction(text: str) -> float:
    try:
        value = float(text)
        if not 0.0 <= value <= 0.95:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"an overlap is a fraction 0-0.95, not {text!r}") from None
    return value


def build_parser(prog: str = "spaceport synth") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Render a synthetic drone survey: photos with GPS EXIF in OUT_DIR/images "
        "and the true camera poses in OUT_DIR/ground_truth.json.",
    )
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="new or empty folder")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="demo")
    parser.add_argument("--seed", type=int, default=0, help="scene and flight seed (default 0)")
    parser.add_argument(
        "--origin",
        type=_origin,
        default=DEFAULT_ORIGIN,
        help="geographic origin LAT,LON[,ALT] of the local frame "
        f"(default {DEFAULT_ORIGIN.lat},{DEFAULT_ORIGIN.lon},{DEFAULT_ORIGIN.alt})",
    )
    parser.add_argument(
        "--colmap",
        action="store_true",
        help="also write a COLMAP model of the true poses to OUT_DIR/colmap "
        "(sparse/0 + images, like the SfM stage's output)",
    )
    for side in ("forward", "side"):
        parser.add_argument(
            f"--{side}-overlap",
            type=_fraction,
            metavar="F",
            help=f"{side} overlap of neighbouring photos, 0-0.95 (default: the preset's)",
        )
    parser.add_argument(
        "--plot", type=Path, metavar="PNG", help="also draw a top-down map of the flight"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    try:
        flaws = replace(
            get_preset(args.preset).flaws,
            forward_overlap=args.forward_overlap,
            side_overlap=args.side_overlap,
        )
        survey = generate(
            args.out_dir, preset=args.preset, seed=args.seed, origin=args.origin, flaws=flaws
        )
        print(
            f"wrote {len(survey.image_names)} photos to {survey.images_dir} and "
            f"{survey.ground_truth_path.name} in {time.perf_counter() - started:.1f} s"
        )
        if args.colmap:
            model = write_colmap_model(survey.root, survey.root / "colmap")
            print(f"wrote the true-pose COLMAP model to {model}")
        if args.plot:
            from .flight_plot import draw_flight_plot  # only needed here

            draw_flight_plot(survey.root, args.plot)
            print(f"drew the flight map to {args.plot}")
    except SpaceportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
