"""Join the separate models of one upload by their GPS, so that no placed photo is lost.

When the photos do not all connect (a gap in the flight, a stretch of water), the mapper ends in
several models, each in its own frame and scale. Each model that carries enough GPS is moved
into one ENU frame (one origin for all: the mean of every fix) by the same GPS judgement as the
georeference (`georeference.align_to_gps`); the smaller ones' images and points are then copied
into the largest. The stage georeferences and adjusts the joined model as it would a single
one: the pose-prior adjustment holds each part to its own fixes, as nothing else ties them.

Models are copied, not re-triangulated: their cameras are the same physical camera, so the
joined model keeps the largest model's intrinsics and the adjustment refines them over every
part. The parts rarely share an image, but pycolmap's incremental mapper may register up to
`max_model_overlap` (20) images in two of its models (garfield, once in several runs): such an
image keeps the larger model's pose, and the smaller's points seen from it are not copied.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pycolmap

from spaceport_sfm.exif import GeoPosition
from spaceport_sfm.georeference import align_to_gps, choose_origin

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MergedModels:
    model: pycolmap.Reconstruction
    merged: int  # models joined into `model`; 1: the largest alone
    left_out: tuple[int, ...]  # registered images of each model that could not be placed


def merge_by_gps(
    models: list[pycolmap.Reconstruction],  # largest first
    gps_by_name: dict[str, GeoPosition],
    capture_order: list[str],
    *,
    max_error_m: float,
) -> MergedModels:
    """The largest model with every other model that its GPS places in the same frame."""
    largest, rest = models[0], models[1:]
    if not rest:
        return MergedModels(largest, 1, ())
    positions = [gps_by_name[n] for n in capture_order if n in gps_by_name]
    if not positions:
        return MergedModels(largest, 1, tuple(m.num_reg_images() for m in rest))
    origin = choose_origin("mean", positions)
    common = f"{origin.lat!r},{origin.lon!r},{origin.alt!r}"

    def align(model: pycolmap.Reconstruction) -> str:
        aligned, why_not = align_to_gps(
            model, gps_by_name, capture_order, origin_rule=common, max_error_m=max_error_m
        )
        return "" if aligned is not None else why_not

    why_not = align(largest)
    if why_not:  # the largest alone, as without merging; the georeference says why
        return MergedModels(largest, 1, tuple(m.num_reg_images() for m in rest))
    merged, left_out = 1, []
    for model in rest:
        why_not = align(model)
        if why_not:
            log.info("a model of %d images stays out: %s", model.num_reg_images(), why_not)
            left_out.append(model.num_reg_images())
            continue
        append_model(largest, model)
        merged += 1
    log.info("joined %d models by their GPS into one of %d images", merged,
             largest.num_reg_images())  # fmt: skip
    return MergedModels(largest, merged, tuple(left_out))


def append_model(target: pycolmap.Reconstruction, source: pycolmap.Reconstruction) -> None:
    """Copy `source`'s registered images (poses) and points into `target`, in place; both in
    the same frame, from the same database (image and camera ids agree). An image `target`
    already holds keeps its pose there, and the points are copied with the images added."""
    added = set()
    for image in source.images.values():
        if not image.has_pose or target.exists_image(image.image_id):
            continue
        added.add(image.image_id)
        keypoints = np.array([p.xy for p in image.points2D], dtype=np.float64).reshape(-1, 2)
        copy = pycolmap.Image(
            name=image.name,
            keypoints=keypoints,
            camera_id=image.camera_id,
            image_id=image.image_id,
        )
        target.add_image_with_trivial_frame(copy, image.cam_from_world())
    for point in source.points3D.values():
        track = pycolmap.Track()
        for element in point.track.elements:
            if element.image_id in added:
                track.add_element(element.image_id, element.point2D_idx)
        if track.length() >= 2:
            target.add_point3D(point.xyz, track, point.color)
    target.update_point_3d_errors()  # the copied points' reprojection errors
