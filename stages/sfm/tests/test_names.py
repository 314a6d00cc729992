"""Any file name a user has: each reaches the model under a safe internal name and comes back
under the user's own name (issue 19 item 1). Before naming.py, the first row alone made the
stage fail with "The 12 photos do not overlap enough": pycolmap's pair list splits on spaces."""

import json
import re
import shutil

import numpy as np
import pycolmap
import pytest

from spaceport_sfm.cli import main
from spaceport_sfm.naming import internal_name
from spaceport_shared.contract import IMAGE_NAMES_NAME
from spaceport_synth import read_ground_truth

# one row per photo of the `test` survey (12), each a kind of name found on users' disks
NAMES = [
    "photo IMG_0001.jpg",  # a space, as a desktop copy makes
    "[DJI] 0002 (copy).JPG",  # brackets and parentheses
    'quote\'s "0003".jpeg',  # quotes
    "fotó 日本 0004.jpg",  # unicode, non-Latin
    "-0005.jpg",  # a leading dash (reads as an option)
    "--help.jpg",
    "x" * 200 + ".jpg",  # very long (255 bytes is the usual limit)
    "a/IMG.jpg",  # equal names in different folders
    "b/IMG.jpg",
    "semi;colon&$(touch pwned)`x`.jpg",  # shell metacharacters
    "tab\there\nand newline.jpg",  # control characters
    "%20 €uro .hidden..jpg",  # percent-encoding, symbols, dots
]
SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\.jpg$")


@pytest.fixture(scope="module")
def named_run(survey, tmp_path_factory):
    upload = tmp_path_factory.mktemp("names") / "upload"
    photos = sorted(survey.images_dir.iterdir())
    assert len(photos) == len(NAMES)
    for src, name in zip(photos, NAMES, strict=True):
        dest = upload / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    out = upload.parent / "out"
    code = main(["--input", str(upload), "--output", str(out)])
    return code, out, {src.name: name for src, name in zip(photos, NAMES, strict=True)}


def test_every_name_reaches_the_model(named_run):
    code, out, _ = named_run
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["metrics"]["images_registered"] == 12
    model = pycolmap.Reconstruction(out / "sparse" / "0")
    for image in model.images.values():
        assert SAFE.match(image.name), image.name
        assert (out / "images" / image.name).is_file()


def test_reported_under_the_users_name(named_run, survey):
    _, out, survey_name_of = named_run
    names = json.loads((out / IMAGE_NAMES_NAME).read_text(encoding="utf-8"))
    assert sorted(names.values()) == sorted(NAMES)
    model = pycolmap.Reconstruction(out / "sparse" / "0")
    assert {img.name for img in model.images.values()} == set(names)
    # each internal name carries the user's photo: its camera sits where the truth has it
    original = {user: survey for survey, user in survey_name_of.items()}
    truth = read_ground_truth(survey.root)
    est = np.array([img.projection_center() for img in model.images.values()])
    true = np.array(
        [truth.images[original[names[img.name]]].camera_center for img in model.images.values()]
    )
    error = np.linalg.norm((est - est.mean(0)) - (true - true.mean(0)), axis=1)
    spacing = np.median(np.linalg.norm(np.diff(true, axis=0), axis=1))
    assert error.max() < 0.05 * spacing  # one swapped pair would be off by a photo spacing


def test_internal_names_are_safe_and_unique():
    made = [internal_name(i, n) for i, n in enumerate(NAMES)]
    assert len(set(made)) == len(made)
    assert all(SAFE.match(m) and len(m) < 64 for m in made)
    assert internal_name(3, "fotó 日本 0004.jpg") == "00003_foto_0004.jpg"
