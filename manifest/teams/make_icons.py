"""Draw the Teams app icons with nothing but the standard library: ``python manifest/teams/make_icons.py``.

* ``color.png``: 192x192, a white speech bubble with a tick on the app's accent colour.
* ``outline.png``: 32x32, the same bubble in white on a transparent background (Teams draws it
  in its own colours), the tick cut out.

The shapes are defined on a unit square and sampled 4x4 per pixel for smooth edges; the PNG is
written with ``zlib`` and ``struct`` (8-bit RGBA, no filtering). Running it again gives the same
bytes, so the committed icons can be checked against it.
"""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ACCENT = (0x1B, 0x6B, 0x73)  # keep in step with "accentColor" in manifest.json
WHITE = (255, 255, 255)
SAMPLES = 4


def png(width: int, height: int, rgba: list[tuple[int, int, int, int]]) -> bytes:
    """An 8-bit RGBA PNG of ``width`` x ``height`` pixels given row by row."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + bytes(v for px in rgba[y * width:(y + 1) * width] for v in px) for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def _in_round_rect(x: float, y: float, x0: float, y0: float, x1: float, y1: float, r: float) -> bool:
    cx, cy = min(max(x, x0 + r), x1 - r), min(max(y, y0 + r), y1 - r)
    return x0 <= x <= x1 and y0 <= y <= y1 and (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def _in_triangle(x: float, y: float, a, b, c) -> bool:
    def side(p, q):
        return (q[0] - p[0]) * (y - p[1]) - (q[1] - p[1]) * (x - p[0])
    s1, s2, s3 = side(a, b), side(b, c), side(c, a)
    return (s1 >= 0 and s2 >= 0 and s3 >= 0) or (s1 <= 0 and s2 <= 0 and s3 <= 0)


def _near_segment(x: float, y: float, a, b, width: float) -> bool:
    dx, dy = b[0] - a[0], b[1] - a[1]
    t = max(0.0, min(1.0, ((x - a[0]) * dx + (y - a[1]) * dy) / (dx * dx + dy * dy)))
    return (x - a[0] - t * dx) ** 2 + (y - a[1] - t * dy) ** 2 <= width * width


def shapes(u: float, v: float, scale: float) -> tuple[bool, bool]:
    """(inside the bubble, inside the tick) at unit point (u, v), the drawing scaled about the centre."""
    x, y = 0.5 + (u - 0.5) / scale, 0.5 + (v - 0.5) / scale
    bubble = _in_round_rect(x, y, 0.17, 0.2, 0.83, 0.68, 0.12) or _in_triangle(
        x, y, (0.30, 0.66), (0.48, 0.66), (0.25, 0.83))
    tick = _near_segment(x, y, (0.36, 0.45), (0.46, 0.55), 0.045) or _near_segment(
        x, y, (0.46, 0.55), (0.65, 0.35), 0.045)
    return bubble, tick


def draw(size: int, scale: float, outline: bool) -> bytes:
    pixels = []
    for py in range(size):
        for px in range(size):
            bubble = tick = 0
            for sy in range(SAMPLES):
                for sx in range(SAMPLES):
                    b, t = shapes((px + (sx + 0.5) / SAMPLES) / size, (py + (sy + 0.5) / SAMPLES) / size, scale)
                    bubble += b and not t
                    tick += b and t
            n = SAMPLES * SAMPLES
            if outline:  # white only; coverage is the alpha
                pixels.append((*WHITE, round(255 * bubble / n)))
            else:  # white bubble on the accent colour, the tick in the accent colour again
                w = bubble / n
                pixels.append(tuple(round(c * (1 - w) + 255 * w) for c in ACCENT) + (255,))
    return png(size, size, pixels)


def main() -> int:
    (HERE / "color.png").write_bytes(draw(192, 1.0, outline=False))
    (HERE / "outline.png").write_bytes(draw(32, 1.35, outline=True))
    print(f"wrote {HERE / 'color.png'} and {HERE / 'outline.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
