"""Spaceport's structure-from-motion stage: photos in, a georeferenced COLMAP model out.

`run(settings, input_dir, output_dir)` (in `stage.py`) chains one module per step:
`inputs` (gather and validate photos), `photos` (EXIF, working-size copies), `extract`
(SIFT features), `pairs` (which images to match), `match`, `mapping`, `georeference`,
`undistort`, `flight_plot`.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
