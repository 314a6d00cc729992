"""A global model started at the GPS: rotations from the photos, camera centres from the fixes.

pycolmap 4.2.1's global pipeline (GLOMAP) reads no priors: it places the cameras from random
positions by the photos' links alone, and on a sparse survey a few false links between look-alike
flight lines decide the basin it ends in (garfield: 14-19 m from GPS whatever is done after).
Here the same steps are taken with the GPS inside from the start:

1. each verified pair's relative pose: decomposed from its two-view geometry, and estimated
   again from its inlier matches with the calibrated solver, as GLOMAP does;
2. rotation averaging over those pairs (`run_rotation_averaging`), then again with each
   pair's pose the one nearer the averaged rotations, and without the pairs neither fits;
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
   cannot refine it: `intrinsics.py`), twice with a retriangulation between: first with the
   vertical loose, then, where the receiver states its vertical accuracy and its altitudes
   agree with the heights the first round shows (`altitude_agrees`), held to that.

It is used only when the GPS agrees with the photos: the median judged pair's direction error
must be within `_MAX_MEDIAN_ERROR_DEG`, and the median linked pair must be
`_INFORMATIVE_BASELINE` GPS deviations apart, or cameras started at their fixes triangulate
nothing. A receiver error of s metres on a baseline of L metres turns the direction by about
s * sqrt(2) / L, so a survey whose fixes are good to a few metres on baselines of tens passes,
while a handheld set with phone GPS on baselines of a few metres (lund) does not and keeps
GLOMAP.
"""

from __future__ import annotations

import logging
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pycolmap

from spaceport_sfm.exif import GeoPosition
from spaceport_sfm.georeference import enu_from_gps
from spaceport_sfm.gps_quality import assess_gps, rotation_to_up, stated_sigmas
from spaceport_sfm.prior_adjustment import adjust_to_gps

log = logging.getLogger(__name__)

_MIN_PAIR_MATCHES = 15  # as GlobalPipelineOptions.min_num_matches
_EPIPOLAR_ERROR_PX = 1.0  # as poselib's default, which GLOMAP keeps
_MAX_PAIR_TURN_DEG = 5.0  # a pair's rotation this far from the averaged ones is not used
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
    model: pycolmap.Reconstruction | None  # None: the GPS cannot start this flight; `why_not`
    median_error_deg: float
    pairs_dropped: int
    pairs: int
    why_not: str = ""


Edges = dict[tuple[int, int], tuple[pycolmap.Rigid3d, int]]  # pair -> (cam2_from_cam1, inliers)
Hypotheses = dict[tuple[int, int], list[tuple[pycolmap.Rigid3d, int]]]


def _pair_seed(name1: str, name2: str) -> int:
    """A RANSAC seed from the pair's names: image ids follow the order in which the threaded
    extraction finished, so a seed from them would give the same photos other poses."""
    return zlib.crc32("\0".join(sorted((name1, name2))).encode()) % 1_000_003


def relative_poses(db: pycolmap.Database, seed: int) -> Hypotheses:
    """(image id 1, image id 2) -> [(cam2_from_cam1, inliers), ...] for every verified pair:
    the pose decomposed from its stored two-view geometry (`estimate_two_view_geometry_pose`),
    then the pose estimated again from its inlier matches with the calibrated solver and
    refined, as GLOMAP does. Over flat ground the stored geometry is a homography, whose
    decomposition is ambiguous (two poses explain a plane) and bends where the ground is not
    quite one (synthetic sparse survey: median 2.7 deg from the truth, the essential matrix
    0.4 deg); the essential matrix of near-planar matches is itself unstable (garfield: which
    pose RANSAC lands on changes with its seed). `consistent_poses` picks between them."""
    cameras = {c.camera_id: c for c in db.read_all_cameras()}
    images = {im.image_id: im for im in db.read_all_images()}
    keypoints = {i: db.read_keypoints(i)[:, :2].astype(np.float64) for i in images}
    hypotheses: Hypotheses = {}
    pair_ids, geometries = db.read_two_view_geometries()
    for pair_id, geometry in sorted(zip(pair_ids, geometries, strict=True), key=lambda p: p[0]):
        matches = geometry.inlier_matches
        if len(matches) < _MIN_PAIR_MATCHES:
            continue
        i1, i2 = pycolmap.pair_id_to_image_pair(pair_id)
        camera1, camera2 = cameras[images[i1].camera_id], cameras[images[i2].camera_id]
        found = []
        if (
            pycolmap.estimate_two_view_geometry_pose(
                camera1, keypoints[i1], camera2, keypoints[i2], geometry
            )
            and geometry.cam2_from_cam1 is not None
        ):
            found.append((geometry.cam2_from_cam1, len(matches)))
        points1, points2 = keypoints[i1][matches[:, 0]], keypoints[i2][matches[:, 1]]
        options = pycolmap.RANSACOptions()
        options.max_error = _EPIPOLAR_ERROR_PX
        options.random_seed = seed + _pair_seed(images[i1].name, images[i2].name)
        estimated = pycolmap.estimate_relative_pose(camera1, points1, camera2, points2, options)
        if estimated is not None and estimated["num_inliers"] >= _MIN_PAIR_MATCHES:
            refined = pycolmap.refine_relative_pose(
                estimated["cam2_from_cam1"], camera1, points1, camera2, points2,
                estimated["inlier_mask"],
            )  # fmt: skip
            pose = estimated["cam2_from_cam1"] if refined is None else refined["cam2_from_cam1"]
            found.append((pose, int(estimated["num_inliers"])))
        if found:
            hypotheses[(i1, i2)] = found
    return hypotheses


def consistent_poses(model: pycolmap.Reconstruction, hypotheses: Hypotheses) -> Edges:
    """Each pair's hypothesis nearest the relative rotation of `model`'s averaged rotations;
    a pair none of whose hypotheses lies within `_MAX_PAIR_TURN_DEG` of it is left out
    (garfield: about 80 of 185 pairs, and the model's RMS from GPS went from 8-14 m, varying
    with the RANSAC seed, to 7-8 m over seven seeds)."""
    edges: Edges = {}
    for (i1, i2), found in hypotheses.items():
        r1, r2 = _rotation(model, i1), _rotation(model, i2)
        if r1 is None or r2 is None:
            continue
        averaged = pycolmap.Rotation3d(r2 @ r1.T)
        turns = [np.degrees(pose.rotation.angle_to(averaged)) for pose, _ in found]
        best = int(np.argmin(turns))
        if turns[best] <= _MAX_PAIR_TURN_DEG:
            edges[(i1, i2)] = found[best]
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


def altitude_agrees(
    model: pycolmap.Reconstruction, centres: dict[int, np.ndarray], stated_v_m: float
) -> bool:
    """Whether the fixes' altitudes agree with the heights `model` (ENU, placed at the fixes
    with a loose vertical) shows: no drift or scatter beyond what the receiver states
    (`gps_quality.assess_gps`, as the georeference judges it)."""
    ids = [i for i in model.reg_image_ids() if i in centres]
    images = [model.images[i] for i in ids]
    points = np.array([p.xyz for p in model.points3D.values()]).reshape(-1, 3)
    found = assess_gps(
        np.array([im.projection_center() for im in images]),
        np.array([im.viewing_direction() for im in images]),
        points,
        np.array([centres[i] for i in ids]),
        has_altitude=True,
        max_error_m=_PRIOR_OUTLIER_M,
        stated_v_m=stated_v_m,
    )
    return found is not None and found.altitude_trusted


def _priors(
    model, centres: dict[int, np.ndarray], sigma_h_m: float, sigma_v_m: float | None
) -> list[pycolmap.PosePrior]:
    """`sigma_v_m` None: the vertical `_VERTICAL_LOOSENESS` times looser than the horizontal."""
    sigma_v_m = sigma_v_m or _VERTICAL_LOOSENESS * sigma_h_m
    covariance = np.diag([sigma_h_m**2, sigma_h_m**2, sigma_v_m**2])
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
        hypotheses = relative_poses(db, seed)
        model = average_rotations(db, {pair: found[0] for pair, found in hypotheses.items()}, seed)
        edges = consistent_poses(model, hypotheses)
        model = average_rotations(db, edges, seed)
        check, rotation = check_pairs(model, edges, centres)
        judged = check.judged(_INFORMATIVE_BASELINE * sigma_h_m)
        median = float(np.median(check.errors_deg[judged])) if judged.any() else 180.0
        apart = float(np.median(check.baselines_m)) if len(check.pairs) else 0.0
        if apart < _INFORMATIVE_BASELINE * sigma_h_m:
            # Cameras started at fixes that far off their neighbours triangulate nothing
            # (lund, handheld: pairs 16 m apart, 0 points from 27 cameras).
            why = f"its linked photos are {apart:.0f} m apart (median), too close for fixes"
            return SeededModel(None, median, 0, len(hypotheses), f"{why} good to {sigma_h_m:g} m")
        if median > _MAX_MEDIAN_ERROR_DEG:
            why = f"GPS disagrees with the photos' pair directions (median {median:.0f} deg)"
            return SeededModel(None, median, 0, len(hypotheses), why)
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
    # A receiver that states its vertical accuracy is held to it once its altitudes agree with
    # the heights the first (vertically loose) round shows; otherwise the vertical stays loose
    # and the photos set it (garfield, seeds 0-4, seeded + georeference: 3.6-5.4 m RMS from
    # GPS loose, 3.3-4.9 m held).
    fixes_with_alt = [fixes[n] for n in names if fixes[n].has_alt]
    stated_v = stated_sigmas(fixes_with_alt)[1] if len(fixes_with_alt) == len(names) else None
    sigma_v = None
    for round_ in range(_ADJUSTMENT_ROUNDS):
        if round_ == 1 and stated_v is not None and altitude_agrees(model, centres, stated_v):
            sigma_v = stated_v
            log.info("GPS-seeded model: the altitudes agree with the photos' heights; held to "
                     "the receiver's stated %.1f m", stated_v)  # fmt: skip
        adjust_to_gps(
            model,
            _priors(model, centres, sigma_h_m, sigma_v),
            outlier_m=_PRIOR_OUTLIER_M,
            focal_priors=focal,
            refine_focal=False,
            max_focal_change=0.0,
            threads=threads,
        )
        relevel(model)
        model = _triangulate(model, out, image_dir)  # points again from the adjusted poses
    if model.num_points3D() < model.num_reg_images():
        why = f"its cameras at their fixes triangulated {model.num_points3D()} points"
        return SeededModel(None, median, len(false), len(hypotheses), why)
    log.info("GPS-seeded global model: %d images, %d points; of %d pairs, %d left out as "
             "inconsistent with the averaged rotations and %d as false links (median pair %.1f "
             "deg from GPS)", model.num_reg_images(), model.num_points3D(), len(hypotheses),
             len(hypotheses) - len(edges) - len(false), len(false), median)  # fmt: skip
    return SeededModel(model, median, len(false), len(hypotheses))


def _triangulate(model, out: Path, image_dir: Path) -> pycolmap.Reconstruction:
    """Points from `model`'s poses and the matches in `out`'s database (poses held)."""
    return pycolmap.triangulate_points(
        model, out / "database.db", image_dir, out, True, pycolmap.IncrementalPipelineOptions()
    )
