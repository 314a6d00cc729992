"""DJI `.SRT` flight telemetry: where the drone was at each moment of the video beside it.

DJI drones write one subtitle block per video frame (Mavic 3, Air 2S, Mini 3 and later:
`[latitude: 55.71] [longitude: 13.22] [rel_alt: 40.1 abs_alt: 105.5]`; older firmware
`[latitude : ..] [longtitude : ..] [altitude: ..]` or `GPS(lon, lat, alt)`, per frame or per
second). Each block's start time and position are read; positions between blocks are
interpolated linearly. Blocks without a fix (0, 0) are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_TIME = re.compile(r"(\d+):(\d\d):(\d\d)[,.](\d{1,3})\s*-->\s*(\d+):(\d\d):(\d\d)[,.](\d{1,3})")
_FIELD = re.compile(r"([A-Za-z_]+)\s*:\s*(-?\d+(?:\.\d+)?)")
_GPS_CALL = re.compile(r"GPS\s*\(\s*(-?\d+\.\d+)\s*,\s*(-?\d+\.\d+)\s*(?:,\s*(-?\d+(?:\.\d+)?))?")
_LAT_KEYS = ("latitude",)
_LON_KEYS = ("longitude", "longtitude")  # the misspelling is DJI's, in older firmware
_ALT_KEYS = ("abs_alt", "altitude", "rel_alt")  # best first


@dataclass(frozen=True)
class Track:
    """Positions of one video over time: `times_s [N]` ascending, `lat/lon/alt [N]`."""

    times_s: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    alt: np.ndarray
    has_alt: bool
    focal_35mm: float | None  # DJI's `focal_len`, when it reads as a 35 mm equivalent

    def at(self, time_s: float) -> tuple[float, float, float] | None:
        """Latitude, longitude, altitude at `time_s`; None outside the track (no guessing)."""
        if time_s < self.times_s[0] - 1.0 or time_s > self.times_s[-1] + 1.0:
            return None
        return tuple(
            float(np.interp(time_s, self.times_s, values))
            for values in (self.lat, self.lon, self.alt)
        )


def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000.0


def parse_srt(text: str) -> Track | None:
    """The track of a DJI `.SRT`; None when it holds no position."""
    rows, focal, has_alt = [], [], False
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        when = _TIME.search(block)
        if when is None:
            continue
        fields = {k.lower(): float(v) for k, v in _FIELD.findall(block)}
        lat = next((fields[k] for k in _LAT_KEYS if k in fields), None)
        lon = next((fields[k] for k in _LON_KEYS if k in fields), None)
        alt = next((fields[k] for k in _ALT_KEYS if k in fields), None)
        call = _GPS_CALL.search(block)
        if (lat is None or lon is None) and call:  # GPS(lon, lat, alt), oldest firmware
            lon, lat = float(call.group(1)), float(call.group(2))
            alt = float(call.group(3)) if call.group(3) and alt is None else alt
        if lat is None or lon is None or (lat == 0.0 and lon == 0.0):
            continue
        if abs(lat) > 90 or abs(lon) > 180:
            continue
        has_alt = has_alt or alt is not None
        rows.append((_seconds(*when.groups()[:4]), lat, lon, alt if alt is not None else 0.0))
        if 8.0 <= fields.get("focal_len", 0.0) <= 200.0:  # older firmware writes 10x (240)
            focal.append(fields["focal_len"])
    if not rows:
        return None
    data = np.array(sorted(rows))
    _, first = np.unique(data[:, 0], return_index=True)
    data = data[first]
    return Track(
        data[:, 0], data[:, 1], data[:, 2], data[:, 3], has_alt,
        float(np.median(focal)) if focal else None,
    )  # fmt: skip


def read_srt(path: Path) -> Track | None:
    return parse_srt(path.read_text(encoding="utf-8", errors="replace"))
