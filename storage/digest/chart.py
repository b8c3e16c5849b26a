"""The digest's chart: decisions per day (per week for long ranges) as a small stacked-bar PNG,
written with zlib and struct (no imaging library: Pillow would add 22 MB to the install)."""

from __future__ import annotations

import struct
import zlib
from datetime import date

from storage import audit
from storage.digest.query import _zero_outcomes


COLOURS = {"share": (46, 125, 50), "do_not_share": (117, 117, 117),
           "seek_advice": (239, 160, 0), "urgent_action": (198, 40, 40)}
_LEGEND = {"share": "SHARE", "do_not_share": "NOT SHARED", "seek_advice": "ADVICE",
           "urgent_action": "URGENT"}
_FONT = {  # 3x5 glyphs, rows top to bottom
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001001001",
    "8": "111101111101111", "9": "111101111001111", "A": "010101111101101", "B": "110101110101110",
    "C": "011100100100011", "D": "110101101101110", "E": "111100110100111", "F": "111100110100100",
    "G": "011100101101011", "H": "101101111101101", "I": "111010010010111", "J": "001001001101010",
    "K": "101101110101101", "L": "100100100100111", "M": "101111111101101", "N": "110101101101101",
    "O": "010101101101010", "P": "110101110100100", "Q": "010101101110011", "R": "110101110101101",
    "S": "011100010001110", "T": "111010010010010", "U": "101101101101111", "V": "101101101101010",
    "W": "101101111111101", "X": "101101010101101", "Y": "101101010010010", "Z": "111001010100111",
    "-": "000000111000000", ":": "000010000010000", "/": "001001010100100", ".": "000000000000010",
    " ": "000000000000000",
}


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.w, self.h = width, height
        self.px = bytearray(b"\xff" * (width * height * 3))

    def rect(self, x: int, y: int, w: int, h: int, colour: tuple[int, int, int]) -> None:
        x0, y0, x1, y1 = max(0, x), max(0, y), min(self.w, x + w), min(self.h, y + h)
        if x1 <= x0 or y1 <= y0:
            return
        line = bytes(colour) * (x1 - x0)
        for yy in range(y0, y1):
            start = (yy * self.w + x0) * 3
            self.px[start:start + len(line)] = line

    def text(self, x: int, y: int, s: str, colour: tuple[int, int, int] = (40, 40, 40), scale: int = 2) -> int:
        for ch in s.upper():
            glyph = _FONT.get(ch, _FONT[" "])
            for i, bit in enumerate(glyph):
                if bit == "1":
                    self.rect(x + (i % 3) * scale, y + (i // 3) * scale, scale, scale, colour)
            x += 4 * scale
        return x

    def png(self) -> bytes:
        def chunk(kind: bytes, data: bytes) -> bytes:
            return (struct.pack(">I", len(data)) + kind + data
                    + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
        stride = self.w * 3
        raw = b"".join(b"\x00" + bytes(self.px[y * stride:(y + 1) * stride]) for y in range(self.h))
        return (b"\x89PNG\r\n\x1a\n"
                + chunk(b"IHDR", struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def _chart_buckets(d: dict) -> list[tuple[str, dict[str, int]]]:
    """One bar per day up to 62 days, else one per ISO week (labelled by week number)."""
    if len(d["by_day"]) <= 62:
        return [(str(date.fromisoformat(r["date"]).day), r) for r in d["by_day"]]
    weeks: dict[str, dict[str, int]] = {}
    for r in d["by_day"]:
        iso = date.fromisoformat(r["date"]).isocalendar()
        bucket = weeks.setdefault(f"{iso[1]}", _zero_outcomes())
        for k in audit.OUTCOMES:
            bucket[k] += r[k]
    return list(weeks.items())


def outcomes_chart_png(d: dict) -> bytes:
    """A small stacked bar chart of outcomes per day (per week for long ranges) as PNG bytes."""
    buckets = _chart_buckets(d)
    n = max(1, len(buckets))
    slot = max(4, min(40, 640 // n))
    bar = max(2, slot * 3 // 4)
    left, top, plot_h = 40, 30, 140
    width = max(left + n * slot + 12, 380)
    height = top + plot_h + 52
    c = _Canvas(width, height)
    title = f"OUTCOMES PER {'DAY' if len(d['by_day']) <= 62 else 'WEEK'} {d['week'] or d['since'] + ' TO ' + d['until']}"
    c.text(8, 8, title)
    peak = max([sum(b[k] for k in audit.OUTCOMES) for _, b in buckets] + [1])
    base = top + plot_h
    c.rect(left - 2, top, 1, plot_h + 1, (160, 160, 160))
    c.rect(left - 2, base, n * slot + 4, 1, (160, 160, 160))
    c.rect(left - 4, top, n * slot + 6, 1, (225, 225, 225))
    c.text(4, top - 2, str(peak), scale=1 if len(str(peak)) > 4 else 2)
    c.text(4, base - 10, "0")
    label_every = max(1, (16 + 2) // slot + (1 if slot < 18 else 0))
    for i, (label, counts) in enumerate(buckets):
        x = left + i * slot + (slot - bar) // 2
        y = base
        for key in audit.OUTCOMES:
            h = round(counts[key] * plot_h / peak)
            if h:
                c.rect(x, y - h, bar, h, COLOURS[key])
                y -= h
        if i % label_every == 0:
            c.text(left + i * slot + max(0, (slot - 8 * len(label)) // 2), base + 5, label,
                   scale=2 if slot >= 8 * len(label) or label_every > 1 else 1)
    x = 8
    for key in audit.OUTCOMES:
        c.rect(x, height - 16, 10, 10, COLOURS[key])
        x = c.text(x + 14, height - 16, _LEGEND[key]) + 10
    return c.png()
