"""Drone and phone videos become photos: frames chosen by spacing and sharpness, with EXIF.

For each `.mp4`/`.mov`/`.m4v` in the upload (decoded by PyAV, which ships its FFmpeg):
- spacing: the video is cut into windows of `interval_s` and the sharpest frame of each window
  is the candidate; the interval grows when all videos together would give more than
  `max_frames`, which bounds SfM's cost (features and pairs grow with the frame count);
- sharpness: the variance of the Laplacian of the greyscale frame (at most 640 px wide, so the
  figure does not depend on the video's size); a candidate under `_BLUR_SHARE` of the median of
  its neighbouring candidates is motion-blurred and dropped (a relative test, because a field
  and a town differ in texture far more than a sharp and a blurred frame do);
- position: from a DJI `.SRT` of the same name beside the video (`telemetry.py`), else none;
- the chosen frames are written as JPEG with EXIF (GPS, 35 mm focal length from the `.SRT`,
  capture time) so the rest of the stage treats them like photos.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath

import av
import numpy as np
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from spaceport_sfm.inputs import Candidate
from spaceport_sfm.telemetry import Track, read_srt

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v"}
_TELEMETRY_SUFFIX = ".srt"
_BLUR_SHARE = 0.5
_NEIGHBOURS = 4  # candidates each side in the blur test's median
_FOCUS_WIDTH = 640
_JPEG_QUALITY = 95
_SRT_TIME = "%Y-%m-%d %H:%M:%S"


@dataclass
class VideoFrames:
    """What one video gave, for the report."""

    name: str
    duration_s: float
    frames_decoded: int = 0
    interval_s: float = 0.0
    candidates: int = 0
    rejected_blur: int = 0
    taken: int = 0
    telemetry: str = ""  # the .SRT used, "" when none
    frames: list[Candidate] = field(default_factory=list)
    error: str = ""

    def summary(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "frames"}


def focus_measure(grey: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of `grey` [H, W] (float)."""
    lap = (
        grey[1:-1, :-2] + grey[1:-1, 2:] + grey[:-2, 1:-1] + grey[2:, 1:-1] - 4.0 * grey[1:-1, 1:-1]
    )
    return float(lap.var())


def _twin(cand: Candidate, by_name: dict[str, Candidate], suffix: str) -> Candidate | None:
    path = PurePosixPath(cand.name)
    for name, other in by_name.items():
        o = PurePosixPath(name)
        if o.parent == path.parent and o.stem == path.stem and o.suffix.lower() == suffix:
            return other
    return None


def _duration_s(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        return float(container.duration or 0) / av.time_base


def _exif(gps: tuple[float, float, float] | None, track: Track | None, taken_at: str) -> bytes:
    exif = Image.Exif()
    exif[0x0131] = "spaceport-sfm video frame"  # Software
    camera = {}
    if track is not None and track.focal_35mm:
        camera[0xA405] = round(track.focal_35mm)  # FocalLengthIn35mmFilm
    if taken_at:
        camera[0x9003] = taken_at  # DateTimeOriginal
    if camera:
        exif[0x8769] = camera
    if gps is not None:
        lat, lon, alt = gps

        def dms(value: float) -> tuple:
            value = abs(value)
            d, m = int(value), int(abs(value) * 60) % 60
            return (
                IFDRational(d),
                IFDRational(m),
                IFDRational(round((value * 3600 - d * 3600 - m * 60) * 1e5), 10**5),
            )

        exif[0x8825] = {
            1: "N" if lat >= 0 else "S", 2: dms(lat), 3: "E" if lon >= 0 else "W", 4: dms(lon),
            5: b"\x00" if alt >= 0 else b"\x01", 6: IFDRational(round(abs(alt) * 1000), 1000),
        }  # fmt: skip
    return exif.tobytes()


def _windows(
    path: Path, interval_s: float, out: VideoFrames
) -> list[tuple[float, float, Image.Image]]:
    """(time, focus, frame) of the sharpest frame in each `interval_s` window."""
    best: dict[int, tuple[float, float, Image.Image]] = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        width = min(_FOCUS_WIDTH, stream.codec_context.width)
        height = max(2, round(stream.codec_context.height * width / stream.codec_context.width))
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            out.frames_decoded += 1
            grey = frame.to_ndarray(format="gray", width=width, height=height).astype(np.float32)
            focus = focus_measure(grey)
            window = int(frame.time // interval_s)
            if window not in best or focus > best[window][1]:
                best[window] = (float(frame.time), focus, frame.to_image())
    return [best[k] for k in sorted(best)]


def _start_time(track_path: Path | None) -> datetime | None:
    if track_path is None:
        return None
    text = track_path.read_text(encoding="utf-8", errors="replace")
    for line in text.splitlines():
        try:
            return datetime.strptime(line.strip()[:19], _SRT_TIME)
        except ValueError:
            continue
    return None


def _extract(
    video: Candidate, srt: Candidate | None, dest: Path, interval_s: float, out: VideoFrames
) -> None:
    track = read_srt(srt.path) if srt is not None else None
    out.telemetry = srt.name if track is not None else ""
    start = _start_time(srt.path) if track is not None else None
    out.interval_s = round(interval_s, 3)
    chosen = _windows(video.path, interval_s, out)
    out.candidates = len(chosen)
    focus = np.array([c[1] for c in chosen])
    stem = PurePosixPath(video.name)
    for i, (time_s, score, image) in enumerate(chosen):
        lo, hi = max(0, i - _NEIGHBOURS), min(len(chosen), i + _NEIGHBOURS + 1)
        if score < _BLUR_SHARE * float(np.median(focus[lo:hi])):
            out.rejected_blur += 1
            continue
        gps = track.at(time_s) if track is not None else None
        taken = (start + timedelta(seconds=time_s)).strftime("%Y:%m:%d %H:%M:%S") if start else ""
        name = f"{stem.parent / stem.stem}_{round(time_s * 1000):08d}ms.jpg".removeprefix("./")
        path = dest / f"{len(out.frames):06d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, "JPEG", quality=_JPEG_QUALITY, exif=_exif(gps, track, taken))
        out.frames.append(Candidate(path=path, name=name))
    out.taken = len(out.frames)


def frames_from_videos(
    candidates: list[Candidate], scratch: Path, interval_s: float, max_frames: int
) -> tuple[list[Candidate], list[VideoFrames]]:
    """The candidates with each video replaced by its chosen frames (and its `.SRT` used)."""
    videos = [c for c in candidates if PurePosixPath(c.name).suffix.lower() in VIDEO_SUFFIXES]
    if not videos:
        return candidates, []
    by_name = {c.name: c for c in candidates}
    results, durations = [], []
    for video in videos:
        result = VideoFrames(name=video.name, duration_s=0.0)
        try:
            result.duration_s = round(_duration_s(video.path), 3)
        except (av.FFmpegError, IndexError, OSError) as exc:
            result.error = f"unreadable video ({exc})"
        results.append(result)
        durations.append(result.duration_s)
    total = sum(durations)
    # one frame per interval, unless that exceeds the cap over all videos together
    interval = max(interval_s, total / max_frames) if total > 0 else interval_s
    used_srt = set()
    for index, (video, result) in enumerate(zip(videos, results, strict=True)):
        if result.error:
            continue
        srt = _twin(video, by_name, _TELEMETRY_SUFFIX)
        if srt is not None:
            used_srt.add(srt.name)
        try:
            _extract(video, srt, scratch / "video-frames" / str(index), interval, result)
        except (av.FFmpegError, OSError) as exc:
            result.error = f"unreadable video ({exc})"
            result.frames.clear()
        log.info("%s: %d of %d frames taken", video.name, result.taken, result.frames_decoded)
    video_names = {v.name for v in videos}
    kept = []
    for cand in candidates:
        if cand.name in video_names:
            kept.extend(next(r for r in results if r.name == cand.name).frames)
        elif cand.name not in used_srt:
            kept.append(cand)
    return kept, results
