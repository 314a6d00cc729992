"""The photos' GPS as position priors inside the incremental mapper.

Every bundle adjustment of the mapper then pulls each camera towards its fix, so a weak or
false link between flight lines cannot fold the model while it grows (the photos alone leave a
sparse survey free to bend). The priors are loose and horizontal: their deviation is a
receiver's horizontal error (`mapping_gps_sigma_m`), the vertical one far wider, so a barometric
offset or an altitude that drifts along the flight does not tilt or bend the model (its vertical
comes later from the photos, `gps_quality.py`); pycolmap's robust loss on the priors lets fixes
far off pull little.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pycolmap

from spaceport_sfm.exif import GeoPosition
from spaceport_sfm.georeference import enu_from_gps

# The vertical prior is this many times looser than the horizontal: GPS altitude is the axis
# that drifts, and the photos fix the heights far better than it can.
_VERTICAL_LOOSENESS = 10.0


def write_position_priors(database: Path, fixes: dict[str, GeoPosition], sigma_h_m: float) -> int:
    """Replace the position priors in `database` by `fixes` (image name -> GPS; ENU metres
    around their mean); return how many were written (none for fewer than 3)."""
    covariance = np.diag([sigma_h_m**2, sigma_h_m**2, (_VERTICAL_LOOSENESS * sigma_h_m) ** 2])
    with pycolmap.Database.open(database) as db:
        db.clear_pose_priors()
        if len(fixes) < 3:
            return 0
        images = {image.name: image for image in db.read_all_images()}
        enu = enu_from_gps(list(fixes.values()))  # [N, 3]
        for name, position in zip(fixes, enu, strict=True):
            prior = pycolmap.PosePrior()
            prior.corr_data_id = images[name].data_id
            prior.position = np.asarray(position, np.float64)
            prior.position_covariance = covariance
            prior.coordinate_system = pycolmap.PosePriorCoordinateSystem.CARTESIAN
            db.write_pose_prior(prior)
    return len(fixes)
