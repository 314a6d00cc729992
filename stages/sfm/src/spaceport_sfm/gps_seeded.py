"""A global model started at the GPS: rotations from the photos, camera centres from the fixes.

pycolmap 4.2.1's global pipeline (GLOMAP) reads no priors: it places the cameras from random
positions by the photos' links alone, and on a sparse survey a few false links between look-alike
flight lines decide the basin it ends in (garfield: 14-19 m from GPS whatever is done after).
Here the same steps are taken with the GPS inside from the start:

1. each verified pair's relative pose, decomposed from its two-view geometry as GLOMAP does;
2. rotation averaging over those pairs (`run_rotation_averaging`);
3. the 1DSfM check with GPS as the reference: each pair's two-view translation direction,
   rotated into the world, against its GPS baseline; pairs off by more than
   `_MAX_PAIR_ERROR_DEG` are false links (repeated structure) and are dropped, and the
   rotations averaged again without them. Only baselines of `_INFORMATIVE_BASELINE` GPS
   deviations or more are judged: on a shorter one the receiver's error alone turns the
   direction by tens of degrees (garfield's pairs 5-25 m apart with 250-750 inliers are off
   by 70-110 deg, and dropping them left the model further from GPS);
4. each camera at its fix (local ENU), points triangulated with the poses held
   (`triangulate_points`), then the pose-prior bundle adjustment with the robust loss
   (`prior_adjustment.adjust_to_gps`) with the focal held at its EXIF prior (weak overlap
   cannot refine it: `intrinsics.py`), twice with a retriangulation between.

It is used only when the GPS agrees with the photos: the median judged pair's direction error
must be within `_MAX_MEDIAN_ERROR_DEG`. A receiver error of s metres on a baseline of L metres
turns the direction by about s * sqrt(2) / L, so a survey whose fixes are good to a few metres
on baselines of tens passes, while a handheld set with phone GPS on baselines of a few metres
(lund) does not and keeps GLOMAP.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pycolmap

from spaceport_sfm.exif import GeoPosition
from spaceport_sfm.georeference import enu_from_gps
from spaceport_sfm.gps_quality import rotation_to_up
from spaceport_sfm.prior_adjustment import adjust_to_gps

log = logging.getLogger(__name__)

_MIN_PAIR_MATCHES = 15  # as GlobalPipelineOptions.min_num_matches
_MAX_MEDIAN_ERROR_DEG = 15.0  # GPS agrees with the photos' pair directions
_MAX_PAIR_ERROR_DEG = 30.0  # a pair this far from its GPS baseline is a false link
_MIN_BASELINE_M = 1.0  # shorter GPS baselines give no direction
_INFORMATIVE_BASELINE = 4.0  # GPS deviations: a pair this far apart has a direction to judge
_ADJUSTMENT_ROUNDS = 2
_PRIOR_OUTLIER_M = 20.0  # the pose-prior adjuster's alignment RANSAC: the model is on the fixes
_VERTICAL_LOOSENESS = 10.0  # as `mapping_priors.py`: the vertical prior is this much looser
# A flight whose views' mean axis lies this close to straight down is a nadir survey: its
# level comes from those views, as the georeference's (`gps_quality.photo_up`) does.
_NADIR_SURVEY_DEG = 20.0


@dataclass(frozen=True)
class PairCheck:
    pairs: list[tuple[int, int]]  # image id pairs with a GPS baseline
    errors_deg: np.ndarray  # [P] angle between the pair's rotated translation and its baseline
    baselines_m: np.ndarray  # [P] GPS distance between the two cameras

    def judged(self, min_baseline_m: float) -> np.ndarray:
        return self.baselines_m >= min_baseline_m


@dataclass(frozen=True)
class SeededModel:
    model: pycolmap.Reconstruction | None  # None: the GPS does not agree with the photos
    median_error_deg: float
    pairs_dropped: int
    pairs: int


Edges = dict[tuple[int, int], tuple[pycolmap.Rigid3d, int]]


def relative_poses(db: pycolmap.Database) -> Edges:
    """(image id 1, image id 2) -> (cam2_from_cam1, inliers) for every verified pair, from its
    stored two-view geometry as GLOMAP decomposes it (`estimate_two_view_geometry_pose`: the
    essential matrix, or the homography where the verification found the ground planar)."""
    cameras = {c.camera_id: c for c in db.read_all_cameras()}
    images = {im.image_id: im for im in db.read_all_images()}
    keypoints = {i: db.read_keypoints(i)[:, :2].astype(np.float64) for i in images}
    edges: Edges = {}
    for pair_id, geometry in zip(*db.read_two_view_geometries(), strict=True):
        if len(geometry.inlier_matches) < _MIN_PAIR_MATCHES:
            continue
        i1, i2 = pycolmap.pair_id_to_image_pair(pair_id)
        posed = pycolmap.estimate_two_view_geometry_pose(
            cameras[images[i1].camera_id],
            keypoints[i1],
            cameras[images[i2].camera_id],
            keypoints[i2],
            geometry,
        )
        if posed and geometry.cam2_from_cam1 is not None:
            edges[(i1, i2)] = (geometry.cam2_from_cam1, len(geometry.inlier_matches))
    return edges


def average_rotations(db: pycolmap.Database, edges: Edges, seed: int) -> pycolmap.Reconstruction:
    """Every image of `db` with its rotation from `edges` (centres meaningless yet)."""
    graph = pycolmap.PoseGraph()
    for (i1, i2), (cam2_from_cam1, inliers) in edges.items():
        edge = pycolmap.PoseGraphEdge(cam2_from_cam1)
        edge.num_matches = inliers
        graph.add_edge(i1, i2, edge)
    model = pycolmap.Reconstruction()
    model.load(pycolmap.DatabaseCache.create(db, pycolmap.DatabaseCacheOptions()))
    options = pycolmap.RotationEstimatorOptions()
    options.random_seed = seed
    pycolmap.run_rotation_averaging(options, graph, model, [])
    return model


def _rotation(model: pycolmap.Reconstruction, image_id: int) -> np.ndarray | None:
    if not model.exists_image(image_id) or not model.images[image_id].has_pose:
        return None
    return model.images[image_id].cam_from_world().rotation.matrix()


def _directions(model, edges: Edges, centres: dict[int, np.ndarray]):
    """Unit directions centre 2 -> centre 1 of each pair: the photos' (model frame) and the
    GPS's (ENU), with the pairs."""
    photo, gps, pairs, lengths = [], [], [], []
    for (i1, i2), (cam2_from_cam1, _) in edges.items():
        rotation = _rotation(model, i2)
        if (
            i1 not in centres
            or i2 not in centres
            or rotation is None
            or _rotation(model, i1) is None
        ):
            continue
        baseline = centres[i1] - centres[i2]
        length = float(np.linalg.norm(baseline))
        translation = rotation.T @ np.asarray(cam2_from_cam1.translation)
        if length < _MIN_BASELINE_M or np.linalg.norm(translation) == 0:
            continue
        photo.append(translation / np.linalg.norm(translation))
        gps.append(baseline / length)
        pairs.append((i1, i2))
        lengths.append(length)
    return np.array(photo).reshape(-1, 3), np.array(gps).reshape(-1, 3), pairs, np.array(lengths)


def _kabsch(a: np.ndarray, b: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The rotation taking unit vectors `a` onto `b` (weighted least squares)."""
    u, _, vt = np.linalg.svd((a * weights[:, None]).T @ b)
    flip = np.diag([1.0, 1.0, np.sign(np.linalg.det(vt.T @ u.T))])
    return vt.T @ flip @ u.T


def _angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip(np.sum(a * b, axis=1), -1.0, 1.0)))


def world_from_model(photo: np.ndarray, gps: np.ndarray) -> np.ndarray:
    """The rotation of the averaged rotations' frame into ENU that best matches the pairs'
    directions to their GPS baselines, reweighted so false links do not steer it."""
    rotation = _kabsch(photo, gps, np.ones(len(photo)))
    for _ in range(5):
        errors = _angles(photo @ rotation.T, gps)
        keep = errors < max(2.0 * float(np.median(errors)), _MAX_MEDIAN_ERROR_DEG)
        rotation = _kabsch(photo, gps, keep.astype(np.float64))
    return rotation


def level_with_photos(
    rotation: np.ndarray, axes: np.ndarray, photo: np.ndarray, gps: np.ndarray
) -> np.ndarray:
    """`rotation` (model -> ENU) levelled by a nadir survey's views, its heading fitted again
    to the baselines about the vertical; as it was for other flights. The pairs' translation
    directions fix the tilt poorly: over flat ground the two-view translation is ill-posed out
    of the image plane (the synthetic sparse survey came out 9 deg tilted from them)."""
    world = axes @ rotation.T
    down = world.mean(axis=0)
    down /= np.linalg.norm(down)
    if down[2] > -np.cos(np.radians(_NADIR_SURVEY_DEG)):
        return rotation
    nadir = world[world @ down > np.cos(np.radians(_NADIR_SURVEY_DEG))].mean(axis=0)
    level = rotation_to_up(-nadir / np.linalg.norm(nadir)) @ rotation
    seen = photo @ level.T
    errors = _angles(seen, gps)
    keep = errors < max(2.0 * float(np.median(errors)), _MAX_MEDIAN_ERROR_DEG)
    cross = seen[keep, 0] * gps[keep, 1] - seen[keep, 1] * gps[keep, 0]
    dot = seen[keep, 0] * gps[keep, 0] + seen[keep, 1] * gps[keep, 1]
    turn = float(np.arctan2(cross.sum(), dot.sum()))
    c, s = np.cos(turn), np.sin(turn)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ level


def _axes(model) -> np.ndarray:
    """[N, 3] viewing directions (camera +z) of the posed images, model frame."""
    rotations = [_rotation(model, i) for i in model.images]
    return np.array([r[2] for r in rotations if r is not None]).reshape(-1, 3)


def check_pairs(
    model, edges: Edges, centres: dict[int, np.ndarray]
) -> tuple[PairCheck, np.ndarray]:
    """Each pair's direction error against GPS, and the rotation model -> ENU."""
    photo, gps, pairs, lengths = _directions(model, edges, centres)
    if len(pairs) < 3:
        return PairCheck(pairs, np.full(len(pairs), 180.0), lengths), np.eye(3)
    rotation = level_with_photos(world_from_model(photo, gps), _axes(model), photo, gps)
    return PairCheck(pairs, _angles(photo @ rotation.T, gps), lengths), rotation


def place_at_fixes(model, rotation: np.ndarray, centres: dict[int, np.ndarray]) -> None:
    """Each image's camera at its fix, its rotation turned into ENU; those without a fix or
    a rotation leave the model."""
    for frame_id, frame in list(model.frames.items()):
        image_id = next(iter(frame.data_ids)).id
        cam_from_model = _rotation(model, image_id)
        if cam_from_model is None or image_id not in centres:
            if frame.has_pose:
                model.deregister_frame(frame_id)
            continue
        cam_from_world = cam_from_model @ rotation.T
        frame.rig_from_world = pycolmap.Rigid3d(
            pycolmap.Rotation3d(cam_from_world), -cam_from_world @ centres[image_id]
        )


def relevel(model: pycolmap.Reconstruction) -> None:
    """Turn a nadir survey's model about its cameras' centroid so its views' mean axis is
    straight down again: the pose-prior adjustment starts by fitting the model to the fixes in
    3D, altitudes too, and the loose vertical priors never undo the tilt that leaves
    (synthetic sparse survey: 0.3 deg placed, 13.7 deg after one adjustment)."""
    axes = _axes(model)
    down = axes.mean(axis=0) / np.linalg.norm(axes.mean(axis=0))
    if down[2] > -np.cos(np.radians(_NADIR_SURVEY_DEG)):
        return
    nadir = axes[axes @ down > np.cos(np.radians(_NADIR_SURVEY_DEG))].mean(axis=0)
    turn = rotation_to_up(-nadir / np.linalg.norm(nadir))
    centroid = np.mean([model.images[i].projection_center() for i in model.reg_image_ids()], 0)
    model.transform(pycolmap.Sim3d(1.0, pycolmap.Rotation3d(turn), centroid - turn @ centroid))


def _priors(model, centres: dict[int, np.ndarray], sigma_h_m: float) -> list[pycolmap.PosePrior]:
    covariance = np.diag([sigma_h_m**2, sigma_h_m**2, (_VERTICAL_LOOSENESS * sigma_h_m) ** 2])
    priors = []
    for image_id in model.reg_image_ids():
        if image_id in centres:
            prior = pycolmap.PosePrior()
            prior.corr_data_id = model.images[image_id].data_id
            prior.position = np.asarray(centres[image_id], np.float64)
            prior.position_covariance = covariance
            prior.coordinate_system = pycolmap.PosePriorCoordinateSystem.CARTESIAN
            priors.append(prior)
    return priors


def map_gps_seeded(
    database: Path,
    image_dir: Path,
    scratch: Path,
    fixes: dict[str, GeoPosition],
    *,
    sigma_h_m: float,
    threads: int,
    seed: int,
) -> SeededModel:
    """The GPS-seeded model of the images in `database` (a copy is edited: false links go);
    the model is in ENU metres around the fixes' mean, so the georeference finds it in place."""
    out = scratch / "gps-seeded"
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(database, out / "database.db")
    with pycolmap.Database.open(out / "database.db") as db:
        ids = {im.name: im.image_id for im in db.read_all_images()}
        names = [n for n in fixes if n in ids]
        centres = dict(zip((ids[n] for n in names), enu_from_gps([fixes[n] for n in names])))
        edges = relative_poses(db)
        model = average_rotations(db, edges, seed)
        check, rotation = check_pairs(model, edges, centres)
        judged = check.judged(_INFORMATIVE_BASELINE * sigma_h_m)
        median = float(np.median(check.errors_deg[judged])) if judged.any() else 180.0
        if median > _MAX_MEDIAN_ERROR_DEG:
            return SeededModel(None, median, 0, len(edges))
        false = [
            pair
            for pair, error, judge in zip(check.pairs, check.errors_deg, judged, strict=True)
            if judge and error > _MAX_PAIR_ERROR_DEG
        ]
        for i1, i2 in false:
            del edges[(i1, i2)]
            db.delete_inlier_matches(i1, i2)  # no points from them either
        if false:
            model = average_rotations(db, edges, seed)
            _, rotation = check_pairs(model, edges, centres)
    place_at_fixes(model, rotation, centres)
    model = _triangulate(model, out, image_dir)
    focal = {cid: cam.mean_focal_length() for cid, cam in model.cameras.items()}
    for _ in range(_ADJUSTMENT_ROUNDS):
        adjust_to_gps(
            model,
            _priors(model, centres, sigma_h_m),
            outlier_m=_PRIOR_OUTLIER_M,
            focal_priors=focal,
            refine_focal=False,
            max_focal_change=0.0,
            threads=threads,
        )
        relevel(model)
        model = _triangulate(model, out, image_dir)  # points again from the adjusted poses
    log.info("GPS-seeded global model: %d images, %d points; %d of %d pairs dropped as false "
             "links (median pair %.1f deg from GPS)", model.num_reg_images(),
             model.num_points3D(), len(false), len(edges) + len(false), median)  # fmt: skip
    return SeededModel(model, median, len(false), len(edges) + len(false))


def _triangulate(model, out: Path, image_dir: Path) -> pycolmap.Reconstruction:
    """Points from `model`'s poses and the matches in `out`'s database (poses held)."""
    return pycolmap.triangulate_points(
        model, out / "database.db", image_dir, out, True, pycolmap.IncrementalPipelineOptions()
    )
