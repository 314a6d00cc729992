"""A drone video with its DJI .SRT becomes photos (issue 19 item 2): frames chosen by spacing
and sharpness, motion-blurred ones rejected, GPS per frame from the telemetry."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from spaceport_sfm.cli import main
from spaceport_sfm.exif import read_exif
from spaceport_sfm.inputs import gather_candidates
from spaceport_sfm.stage import prepare, record_videos
from spaceport_sfm.telemetry import parse_srt
from spaceport_sfm.video import frames_from_videos
from spaceport_shared.report import Report
from spaceport_synth import geodetic_to_enu, write_flight_video

INTERVAL_S = 1.0  # = one frame per window at the video's 1 fps: the blur test alone decides


@pytest.fixture(scope="module")
def flight(tmp_path_factory):
    return write_flight_video(tmp_path_factory.mktemp("video") / "card", preset="test", seed=0)


@pytest.fixture(scope="module")
def video_run(flight, tmp_path_factory):
    out = tmp_path_factory.mktemp("video-out") / "out"
    argv = ["--input", str(flight.video.parent), "--output", str(out)]
    argv += ["--set", f"video_frame_interval_s={INTERVAL_S}"]
    return main(argv), out


@pytest.mark.slow  # ~45 s on 2 busy cores: 15 frames through the whole stage
def test_frames_chosen_placed_and_located(flight, video_run):
    code, out = video_run
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    [video] = report["details"]["videos"]
    blurred = sum(f.blurred for f in flight.frames)
    assert video["frames_decoded"] == len(flight.frames)
    assert video["telemetry"] == flight.srt.name
    assert video["rejected_blur"] == blurred  # every blurred frame, and only those
    assert video["taken"] == len(flight.frames) - blurred == report["metrics"]["images_total"]
    assert report["metrics"]["images_with_gps"] == video["taken"]
    assert report["metrics"]["images_registered"] >= 0.9 * video["taken"]
    assert report["details"]["georeference"]["georeferenced"] is True
    assert report["metrics"]["georeference_residual_rms_m"] < 1.0

    # the frames taken are the sharp ones, and their names say when they were taken
    names = json.loads((out / "image_names.json").read_text())
    taken_ms = sorted(int(n.rsplit("_", 1)[1].removesuffix("ms.jpg")) for n in names.values())
    sharp_ms = [round(f.time_s * 1000) for f in flight.frames if not f.blurred]
    assert taken_ms == sharp_ms


def test_gps_per_frame_matches_the_flight(flight, tmp_path):
    """Each taken frame's EXIF GPS against the synthetic flight's true camera centre."""

    files = gather_candidates(flight.video.parent, tmp_path, 10**9)
    frames, [video] = frames_from_videos(files, tmp_path, interval_s=1.0, max_frames=8)
    assert video.interval_s == pytest.approx(max(1.0, video.duration_s / 8))
    assert video.taken <= 8 and len(frames) == video.taken  # the cap holds
    truth = {round(f.time_s * 1000): f.centre for f in flight.frames}
    errors = []
    for frame in frames:
        with Image.open(frame.path) as im:
            gps = read_exif(im).gps
            assert im.size == (320, 240)
        ms = int(frame.name.rsplit("_", 1)[1].removesuffix("ms.jpg"))
        enu = geodetic_to_enu(gps.lat, gps.lon, gps.alt, flight.origin)
        errors.append(np.linalg.norm(enu - truth[ms]))
    assert max(errors) < 0.2  # metres: the .SRT's 6 decimals (~0.1 m) and EXIF rounding


def test_srt_formats():
    new = (
        '1\n00:00:00,000 --> 00:00:00,033\n<font size="28">FrameCnt: 1, DiffTime: 33ms\n'
        "2023-01-12 14:05:32.123\n[iso: 100] [focal_len: 24.00] [latitude: 47.5] "
        "[longitude: 15.25] [rel_alt: 50.100 abs_alt: 400.200] [ct: 5500] </font>\n\n"
        "2\n00:00:01,000 --> 00:00:01,033\n[latitude: 47.6] [longitude: 15.35] "
        "[rel_alt: 52.100 abs_alt: 402.200]\n"
    )
    track = parse_srt(new)
    assert track.at(0.5) == pytest.approx((47.55, 15.3, 401.2))
    assert track.focal_35mm == 24.0 and track.has_alt
    assert track.at(10.0) is None  # beyond the telemetry: no position rather than a guess
    old = (
        "1\n00:00:00,000 --> 00:00:01,000\n[focal_len : 240] [latitude : 46.92] "
        "[longtitude : 7.44] [altitude: 523.46]\n\n"
        "2\n00:00:01,000 --> 00:00:02,000\nHOME(149.0251,-20.2532) 2017.08.05 14:11:51\n"
        "GPS(149.0252,-20.2533,16) BAROMETER:1.9\n\n"
        "3\n00:00:02,000 --> 00:00:03,000\n[latitude: 0.0] [longitude: 0.0]\n"
    )
    track = parse_srt(old)
    assert list(track.lat) == [46.92, -20.2533] and list(track.lon) == [7.44, 149.0252]
    assert track.focal_35mm is None  # 240 is 10x the focal length in that firmware
    assert parse_srt("1\n00:00:00,000 --> 00:00:01,000\nno position\n") is None


def test_video_without_srt_and_a_broken_video(flight, tmp_path):
    card = tmp_path / "card"
    card.mkdir()
    shutil.copyfile(flight.video, card / "clip one.mp4")
    (card / "broken.MOV").write_bytes(b"\0\0\0\x18ftypqt  " + b"\1" * 500)
    (card / "lonely.SRT").write_text(flight.srt.read_text())
    prepared = prepare(
        card,
        tmp_path / "scratch",
        max_image_size=1600,
        max_extract_gib=1.0,
        video_frame_interval_s=1.0,
        video_max_frames=6,
        threads=1,
    )
    report = Report(stage="sfm", version="test")
    record_videos(report, prepared.videos)
    assert (
        "clip one.mp4: no DJI .SRT telemetry of the same name beside it, so its frames carry no "
        "GPS" in report.warnings
    )
    skipped = {s.name: s.reason for s in prepared.skipped}
    assert skipped["broken.MOV"].startswith("unreadable video")
    assert skipped["lonely.SRT"] == "flight telemetry without a video of the same name beside it"
    assert 0 < len(prepared.photos) <= 6 and report.metrics["video_frames_taken"] == len(
        prepared.photos
    )
    assert all(p.exif.gps is None and p.source.startswith("clip one_") for p in prepared.photos)
