"""The SfM stage's settings (`--set key=value` or a processing job's ContainerArguments).

Defaults come from measurements on real photo sets with the benchmark `bench/bench_sfm.py`
(figures in stages/sfm/README.md): they keep every image registered at a fraction of pycolmap's
default cost.
"""

from __future__ import annotations

from dataclasses import dataclass

from spaceport_shared.settings import setting

MATCHING_MODES = ("auto", "exhaustive", "spatial", "sequential")


@dataclass(frozen=True)
class SfmSettings:
    max_image_size: int = setting(
        1600,
        help="long side in pixels of the working images (features, model and undistorted output);"
        " larger photos are shrunk, smaller ones kept",
        min=160,
        max=20000,
    )
    max_num_features: int = setting(4096, help="SIFT features kept per image", min=256, max=65536)
    upsample_below: int = setting(
        800,
        help="working images whose long side is at most this many pixels are upsampled 2x for SIFT"
        " (first_octave=-1), which tiny images need for enough features; it costs ~4x the"
        " extraction time, so 1024 px photos are not upsampled by default",
        min=0,
        max=20000,
    )
    matching: str = setting(
        "auto",
        help="which image pairs to match; auto picks exhaustive for small sets, spatial (GPS"
        " neighbours + capture order) with GPS, sequential without",
        choices=MATCHING_MODES,
    )
    exhaustive_max_images: int = setting(
        20, help="auto matching: sets up to this size are matched exhaustively", min=2
    )
    spatial_neighbors: int = setting(
        8, help="spatial matching: nearest GPS neighbours matched per image", min=1
    )
    sequential_overlap: int = setting(
        5,
        help="spatial/sequential matching: neighbours in capture order matched per image",
        min=0,
    )
    mapper: str = setting(
        "incremental",
        help="pycolmap mapper: incremental (global takes over when it leaves images out) or"
        " global (GLOMAP, faster on large sets)",
        choices=("incremental", "global"),
    )
    min_registered_share: float = setting(
        0.5,
        help="fail unless the largest model holds at least this share of the usable images",
        min=0.0,
        max=1.0,
    )
    origin: str = setting(
        "mean",
        help="geographic origin of the ENU frame: mean, first (first photo in capture order),"
        " or LAT,LON,ALT in degrees and metres",
    )
    gps_max_error_m: float = setting(
        10.0,
        help="GPS alignment: camera positions further than this (horizontally) from their GPS fix"
        " are outliers, whatever the fixes' own noise; a tighter limit follows from that noise",
        min=0.01,
    )
    require_georeference: bool = setting(
        False,
        help="fail (no output) unless the model is georeferenced and agrees with its GPS",
    )
    max_focal_change: float = setting(
        0.5,
        help="a refined focal length further than this share from its EXIF prior is not"
        " believed (weak overlap): that step is redone with the focal held at the prior. Not"
        " tighter: 35 mm-equivalent tags of cropped frames and phones are 20-30 % off (brighton"
        " 30 %, lund 21 %: holding them raised brighton's GPS residual from 0.43 to 0.71 m)",
        min=0.0,
        max=10.0,
    )
    mapping_gps_sigma_m: float = setting(
        5.0,
        help="horizontal standard deviation (metres) of the GPS position priors inside the"
        " incremental mapper's bundle adjustments (vertical 10x looser, robust loss), which keep"
        " weak links between flight lines from folding the model, and of the GPS-seeded global"
        " model that replaces GLOMAP where the GPS agrees with the photos (there only for"
        " photos that do not state their receiver's accuracy in XMP or EXIF, which is used"
        " where they do); 0 maps from the photos alone",
        min=0.0,
    )
    threads: int = setting(0, help="worker threads; 0 uses every core", min=0, max=1024)
    max_extract_gib: float = setting(
        20.0, help="refuse a .zip upload that expands beyond this many GiB", min=0.001
    )
    seed: int = setting(0, help="random seed for pycolmap's RANSAC and mapper", min=0)
    video_frame_interval_s: float = setting(
        1.0,
        help="videos: the sharpest frame of every this many seconds is taken (motion-blurred"
        " ones dropped)",
        min=0.01,
    )
    video_max_frames: int = setting(
        300,
        help="videos: at most this many frames from all videos together (the interval grows),"
        " which bounds SfM's cost",
        min=3,
    )
