"""DutyFlow's home-screen icons, drawn here and encoded as PNG (zlib; no imaging library).

`python -m web.icons` writes them to web/static/icons/ (committed; drawing the 512 px ones
takes seconds, too long for a server's start), where Flask serves them beside the web app
manifest (web/pages/app_manifest.py).

A white check mark on the brand blue: with rounded corners and a transparent outside for
`any`, full bleed for `maskable` (the platform cuts its own shape; the mark stays inside
the central safe zone) and for Apple's touch icon.
"""
from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

ICONS = Path(__file__).parent / "static" / "icons"
BLUE = (0x0B, 0x69, 0xA3)
WHITE = (0xFF, 0xFF, 0xFF)
# The check mark's two strokes, in fractions of the icon's side.
_STROKES = (((0.28, 0.53), (0.44, 0.69)), ((0.44, 0.69), (0.74, 0.35)))
_STROKE_WIDTH = 0.085
SIZES = {"icon-192.png": (192, False), "icon-512.png": (512, False),
         "icon-maskable-512.png": (512, True), "apple-touch-icon.png": (180, True)}


def _segment_distance(x: float, y: float, a: tuple[float, float], b: tuple[float, float]) -> float:
    (ax, ay), (bx, by) = a, b
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(x - ax - t * dx, y - ay - t * dy)


def _coverage(distance_outside: float) -> float:
    """Anti-aliasing: how much of a pixel lies inside a shape whose edge is this far away
    (in pixels; negative inside)."""
    return max(0.0, min(1.0, 0.5 - distance_outside))


def render(size: int, full_bleed: bool) -> bytes:
    """The icon as RGBA PNG bytes."""
    radius = 0 if full_bleed else size * 0.2
    scale = 0.8 if full_bleed else 1.0  # a maskable icon keeps its mark in the safe zone
    half_width = _STROKE_WIDTH * size * scale / 2
    rows = []
    for row in range(size):
        line = bytearray(b"\x00")  # filter type: none
        y = row + 0.5
        for column in range(size):
            x = column + 0.5
            # The rounded square: distance outside its edge.
            qx = max(abs(x - size / 2) - (size / 2 - radius), 0.0)
            qy = max(abs(y - size / 2) - (size / 2 - radius), 0.0)
            background = _coverage(math.hypot(qx, qy) - radius) if radius else 1.0
            # The mark, drawn in the (scaled) central square.
            u = 0.5 + (x / size - 0.5) / scale
            v = 0.5 + (y / size - 0.5) / scale
            distance = min(_segment_distance(u, v, a, b) for a, b in _STROKES) * size * scale
            mark = _coverage(distance - half_width)
            color = [round(BLUE[i] + (WHITE[i] - BLUE[i]) * mark) for i in range(3)]
            line += bytes((*color, round(255 * background)))
        rows.append(bytes(line))
    return _png(size, size, b"".join(rows))


def _png(width: int, height: int, raw: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def write_all(folder: Path = ICONS) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (size, full_bleed) in SIZES.items():
        path = folder / name
        path.write_bytes(render(size, full_bleed))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_all():
        print(path)
