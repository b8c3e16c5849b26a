"""The digest's chart: decisions per day (per week for long ranges) as a stacked-bar PNG with a
title, a y axis with gridlines at round numbers, labelled days, each bar's total and a legend
with the period's count per outcome.

Drawn with zlib and struct and a 5x7 bitmap font (the classic character-LCD glyphs): Pillow
would take the install past issue 12's 500 MB (measured: 505 MB even with the PostgreSQL driver
left out), and matplotlib is larger still. The colours are told apart without colour vision too
(blue, grey, light amber, dark red differ in lightness), and the legend carries the counts.
"""

from __future__ import annotations

import struct
import zlib
from datetime import date

from storage import audit
from storage.digest.query import OUTCOME_LABELS, _zero_outcomes
from storage.digest.render import period_title


COLOURS = {"share": (0, 114, 178), "do_not_share": (150, 150, 150),
           "seek_advice": (240, 180, 40), "urgent_action": (170, 30, 30)}
INK, MUTED, GRID, AXIS = (30, 30, 30), (90, 90, 90), (228, 228, 228), (120, 120, 120)

# 5x7 glyphs, seven rows of five pixels each, top to bottom (unknown characters draw as "?").
_GLYPHS = """
A 01110 10001 10001 11111 10001 10001 10001|B 11110 10001 10001 11110 10001 10001 11110
C 01110 10001 10000 10000 10000 10001 01110|D 11100 10010 10001 10001 10001 10010 11100
E 11111 10000 10000 11110 10000 10000 11111|F 11111 10000 10000 11110 10000 10000 10000
G 01110 10001 10000 10111 10001 10001 01111|H 10001 10001 10001 11111 10001 10001 10001
I 01110 00100 00100 00100 00100 00100 01110|J 00111 00010 00010 00010 00010 10010 01100
K 10001 10010 10100 11000 10100 10010 10001|L 10000 10000 10000 10000 10000 10000 11111
M 10001 11011 10101 10101 10001 10001 10001|N 10001 10001 11001 10101 10011 10001 10001
O 01110 10001 10001 10001 10001 10001 01110|P 11110 10001 10001 11110 10000 10000 10000
Q 01110 10001 10001 10001 10101 10010 01101|R 11110 10001 10001 11110 10100 10010 10001
S 01111 10000 10000 01110 00001 00001 11110|T 11111 00100 00100 00100 00100 00100 00100
U 10001 10001 10001 10001 10001 10001 01110|V 10001 10001 10001 10001 10001 01010 00100
W 10001 10001 10001 10101 10101 10101 01010|X 10001 10001 01010 00100 01010 10001 10001
Y 10001 10001 10001 01010 00100 00100 00100|Z 11111 00001 00010 00100 01000 10000 11111
a 00000 00000 01110 00001 01111 10001 01111|b 10000 10000 10110 11001 10001 10001 11110
c 00000 00000 01110 10000 10000 10001 01110|d 00001 00001 01101 10011 10001 10001 01111
e 00000 00000 01110 10001 11111 10000 01110|f 00110 01001 01000 11100 01000 01000 01000
g 00000 01111 10001 10001 01111 00001 01110|h 10000 10000 10110 11001 10001 10001 10001
i 00100 00000 01100 00100 00100 00100 01110|j 00010 00000 00110 00010 00010 10010 01100
k 10000 10000 10010 10100 11000 10100 10010|l 01100 00100 00100 00100 00100 00100 01110
m 00000 00000 11010 10101 10101 10001 10001|n 00000 00000 10110 11001 10001 10001 10001
o 00000 00000 01110 10001 10001 10001 01110|p 00000 00000 11110 10001 11110 10000 10000
q 00000 00000 01101 10011 01111 00001 00001|r 00000 00000 10110 11001 10000 10000 10000
s 00000 00000 01110 10000 01110 00001 11110|t 01000 01000 11100 01000 01000 01001 00110
u 00000 00000 10001 10001 10001 10011 01101|v 00000 00000 10001 10001 10001 01010 00100
w 00000 00000 10001 10001 10101 10101 01010|x 00000 00000 10001 01010 00100 01010 10001
y 00000 00000 10001 10001 01111 00001 01110|z 00000 00000 11111 00010 00100 01000 11111
0 01110 10001 10011 10101 11001 10001 01110|1 00100 01100 00100 00100 00100 00100 01110
2 01110 10001 00001 00010 00100 01000 11111|3 11111 00010 00100 00010 00001 10001 01110
4 00010 00110 01010 10010 11111 00010 00010|5 11111 10000 11110 00001 00001 10001 01110
6 00110 01000 10000 11110 10001 10001 01110|7 11111 00001 00010 00100 01000 01000 01000
8 01110 10001 10001 01110 10001 10001 01110|9 01110 10001 10001 01111 00001 00010 01100
- 00000 00000 00000 11111 00000 00000 00000|: 00000 01100 01100 00000 01100 01100 00000
/ 00000 00001 00010 00100 01000 10000 00000|. 00000 00000 00000 00000 00000 01100 01100
, 00000 00000 00000 00000 01100 00100 01000|( 00010 00100 01000 01000 01000 00100 00010
) 01000 00100 00010 00010 00010 00100 01000|? 01110 10001 00001 00010 00100 00000 00100
"""
_FONT = {entry[0]: "".join(entry[2:].split()) for entry in _GLYPHS.replace("\n", "|").split("|") if entry}
_FONT[" "] = "0" * 35
_CELL = 6  # a glyph's advance in font pixels (five and a gap)


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.w, self.h = width, height
        self.px = bytearray(b"\xff" * (width * height * 3))
        self.texts: list[tuple[int, int, int, int, str]] = []  # x, y, width, height, text: what was written

    def rect(self, x: int, y: int, w: int, h: int, colour: tuple[int, int, int]) -> None:
        x0, y0, x1, y1 = max(0, x), max(0, y), min(self.w, x + w), min(self.h, y + h)
        if x1 <= x0 or y1 <= y0:
            return
        line = bytes(colour) * (x1 - x0)
        for yy in range(y0, y1):
            start = (yy * self.w + x0) * 3
            self.px[start:start + len(line)] = line

    def text(self, x: int, y: int, s: str, colour: tuple[int, int, int] = INK, scale: int = 2,
             bold: bool = False) -> int:
        """Draw ``s`` with its top left at (x, y); the x where the next character would go."""
        self.texts.append((x, y, text_width(s, scale) + bold * len(s), 7 * scale, s))
        for ch in s:
            glyph = _FONT.get(ch, _FONT["?"])
            for i, bit in enumerate(glyph):
                if bit == "1":
                    self.rect(x + (i % 5) * scale, y + (i // 5) * scale, scale + bold, scale, colour)
            x += _CELL * scale + bold
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


def text_width(s: str, scale: int = 2) -> int:
    return len(s) * _CELL * scale - scale


def _chart_buckets(d: dict) -> list[tuple[tuple[str, ...], dict[str, int]]]:
    """One bar per day up to 62 days (labelled weekday and day up to a fortnight, else the day of
    the month), else one per ISO week (labelled W and its number; a range of over a year has a
    bar for each year's week of that number)."""
    days = d["by_day"]
    if len(days) <= 62:
        short = len(days) <= 14
        return [((f"{day:%a}", str(day.day)) if short else (str(day.day),), r)
                for r in days for day in [date.fromisoformat(r["date"])]]
    weeks: dict[tuple[int, int], tuple[tuple[str, ...], dict[str, int]]] = {}
    for r in days:
        iso = date.fromisoformat(r["date"]).isocalendar()
        _label, bucket = weeks.setdefault((iso.year, iso.week), ((f"W{iso.week}",), _zero_outcomes()))
        for k in audit.OUTCOMES:
            bucket[k] += r[k]
    return list(weeks.values())


def _tick_step(peak: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50 ... that puts at most five gridlines above zero."""
    step, mult = 1, 1
    while peak / step > 5:
        for m in (2, 5, 10):
            step = mult * m
            if peak / step <= 5:
                break
        mult *= 10
    return step


def outcomes_chart_png(d: dict) -> bytes:
    """The period's decisions as a stacked bar chart, one bar a day (a week for long ranges), as PNG bytes."""
    return outcomes_chart(d).png()


def outcomes_chart(d: dict) -> _Canvas:
    """The chart drawn on a canvas, which also lists the texts written on it (for the tests)."""
    buckets = _chart_buckets(d)
    weekly = len(d["by_day"]) > 62
    totals = [sum(b[k] for k in audit.OUTCOMES) for _, b in buckets]
    step = _tick_step(max(totals + [1]))
    top_tick = step * -(-max(totals + [1]) // step)
    n = max(1, len(buckets))
    slot = max(6, min(72, 600 // n))
    bar = max(4, slot * 2 // 3)
    left = 24 + text_width(str(top_tick)) + 10
    top, plot_h, rows = 112, 220, max((len(labels) for labels, _ in buckets), default=1)
    base = top + plot_h
    axis_title_y = base + 8 + rows * 18 + 6
    legend_y = axis_title_y + 32
    title = f"Decisions per {'week' if weekly else 'day'}, {sum(totals)} in all"
    period = period_title(d)
    period = period[0].upper() + period[1:]
    width = max(left + n * slot + 24, 32 + text_width(period), 640)
    height = legend_y + 2 * 24 + 6
    c = _Canvas(width, height)

    c.text(16, 14, title, bold=True)
    c.text(16, 38, period, MUTED)
    c.text(16, top - 40, "Decisions", MUTED)  # above the tallest bar's total
    for value in range(0, top_tick + 1, step):
        y = base - round(value * plot_h / top_tick)
        c.rect(left, y, n * slot, 1, GRID if value else AXIS)
        c.text(left - 8 - text_width(str(value)), y - 7, str(value), MUTED)
    c.rect(left - 1, top - 4, 1, plot_h + 5, AXIS)

    widest = max((text_width(part) for labels, _ in buckets for part in labels), default=0)
    label_every = -(-(widest + 6) // slot)
    totals_fit = all(text_width(str(t)) <= slot - 2 for t in totals)
    for i, ((labels, counts), total) in enumerate(zip(buckets, totals)):
        x = left + i * slot + (slot - bar) // 2
        y = base
        for key in audit.OUTCOMES:
            h = round(counts[key] * plot_h / top_tick)
            if h:
                c.rect(x, y - h, bar, h, COLOURS[key])
                y -= h
        if total and totals_fit:
            c.text(x + (bar - text_width(str(total))) // 2, y - 18, str(total))
        if i % label_every == 0:
            centre = left + i * slot + slot // 2
            for row, part in enumerate(labels):
                c.text(centre - text_width(part) // 2, base + 8 + row * 18, part, MUTED)
    if not any(totals):
        message = "No decisions recorded"
        c.text(left + (n * slot - text_width(message)) // 2, top + plot_h // 2 - 7, message, MUTED)
    axis_title = "ISO week" if weekly else "Day"
    c.text(left + (n * slot - text_width(axis_title)) // 2, axis_title_y, axis_title, MUTED)

    for i, key in enumerate(audit.OUTCOMES):
        x, y = 16 + (i % 2) * 300, legend_y + (i // 2) * 24
        c.rect(x, y, 14, 14, COLOURS[key])
        c.text(x + 22, y, f"{OUTCOME_LABELS[key]} ({sum(b[key] for _, b in buckets)})")
    return c
