"""`merge.append_model` on hand-made models: an image both models placed (pycolmap's
incremental mapper can register one image in two of its models) stays where the target has
it, and the source's points seen from it are not copied onto its observations."""

import numpy as np
import pycolmap

from spaceport_sfm.merge import append_model


def _model(placed: dict[int, float], points: list[list[tuple[int, int]]]):
    """Images (id -> x of the camera centre, metres) with 3 keypoints each, and points whose
    tracks are (image id, keypoint index) pairs."""
    model = pycolmap.Reconstruction()
    camera = pycolmap.Camera.create_from_model_id(
        1, pycolmap.CameraModelId.SIMPLE_PINHOLE, 100.0, 64, 48
    )
    model.add_camera(camera)
    rig = pycolmap.Rig(rig_id=1)
    rig.add_ref_sensor(camera.sensor_id)
    model.add_rig(rig)
    for image_id, x in placed.items():
        keypoints = np.array([[10.0, 10.0], [30.0, 20.0], [50.0, 40.0]])
        image = pycolmap.Image(
            name=f"{image_id}.jpg", keypoints=keypoints, camera_id=1, image_id=image_id
        )
        pose = pycolmap.Rigid3d(pycolmap.Rotation3d(), np.array([-x, 0.0, 0.0]))
        model.add_image_with_trivial_frame(image, pose)
    for k, elements in enumerate(points):
        track = pycolmap.Track()
        for image_id, index in elements:
            track.add_element(image_id, index)
        model.add_point3D(np.array([float(k), 0.0, 10.0]), track, np.zeros(3, np.uint8))
    return model


def test_an_image_in_both_models_keeps_the_targets_pose_and_points():
    target = _model({1: 0.0, 2: 1.0, 3: 2.0}, [[(1, 0), (2, 0), (3, 0)]])
    # image 3 is in the source too (at another pose); one point joins it to image 4, one
    # links the source's own images 4 and 5, one uses an observation of 3 the target has
    source = _model(
        {3: 2.5, 4: 3.0, 5: 4.0}, [[(3, 1), (4, 1)], [(4, 2), (5, 2)], [(3, 0), (5, 0)]]
    )
    append_model(target, source)
    assert sorted(target.reg_image_ids()) == [1, 2, 3, 4, 5]
    assert target.images[3].projection_center()[0] == 2.0  # the target's pose
    tracks = sorted(
        sorted((e.image_id, e.point2D_idx) for e in p.track.elements)
        for p in target.points3D.values()
    )
    # the target's point, the 4-5 point; the links through image 3 are not copied
    assert tracks == [[(1, 0), (2, 0), (3, 0)], [(4, 2), (5, 2)]]
