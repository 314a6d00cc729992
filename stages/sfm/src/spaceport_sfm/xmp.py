"""What a photo's XMP packet says about its GPS receiver: the accuracy it states for its fixes.

Survey cameras write their receiver's own error estimate beside the fix; OpenDroneMap reads
the same tags for its GPS weights:

- Pix4D's camera namespace (Parrot Sequoia, senseFly, MicaSense): `GPSXYAccuracy`,
  `GPSZAccuracy`, metres.
- DJI's RTK drones: `RtkStdLon`, `RtkStdLat`, `RtkStdHgt`, standard deviations in metres.

The packet is untrusted input, so it is parsed with defusedxml (no entity expansion).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

_PIX4D = "http://pix4d.com/camera/1.0/"
_DJI = "http://www.dji.com/drone-dji/1.0/"
_MAX_PACKET = 1 << 20  # an XMP packet is a few kB; a larger one is not read


@dataclass(frozen=True)
class StatedAccuracy:
    """The receiver's stated standard deviations of a fix, metres; None where not stated."""

    horizontal_m: float | None
    vertical_m: float | None
    source: str  # which tags, for the report


def _values(root: Element, namespace: str, names: tuple[str, ...]) -> list[float | None]:
    """Each of `names` in `namespace`, as an attribute (rdf:Description's short form) or an
    element anywhere in the packet; None where absent or not a positive number."""
    found: list[float | None] = []
    for name in names:
        key = f"{{{namespace}}}{name}"
        text = next(
            (e.get(key) for e in root.iter() if e.get(key) is not None),
            next((e.text for e in root.iter(key)), None),
        )
        try:
            value = float(text) if text is not None else math.nan
        except ValueError:
            value = math.nan
        found.append(value if math.isfinite(value) and value > 0 else None)
    return found


def stated_accuracy(packet: bytes | str | None) -> StatedAccuracy | None:
    """The GPS accuracy an XMP `packet` states, None when it states none or cannot be read."""
    if not packet or len(packet) > _MAX_PACKET:
        return None
    if isinstance(packet, bytes):
        packet = packet.decode("utf-8", "replace")
    start = packet.find("<x:xmpmeta")
    end = packet.find("</x:xmpmeta>")
    if start < 0 or end < 0:
        return None
    try:
        root = ElementTree.fromstring(packet[start : end + len("</x:xmpmeta>")])
    except (ElementTree.ParseError, DefusedXmlException):
        return None
    horizontal, vertical = _values(root, _PIX4D, ("GPSXYAccuracy", "GPSZAccuracy"))
    if horizontal is not None or vertical is not None:
        return StatedAccuracy(horizontal, vertical, "XMP GPSXYAccuracy/GPSZAccuracy")
    lon, lat, height = _values(root, _DJI, ("RtkStdLon", "RtkStdLat", "RtkStdHgt"))
    if lon is not None and lat is not None:
        return StatedAccuracy(max(lon, lat), height, "XMP RtkStdLon/RtkStdLat/RtkStdHgt")
    return None
