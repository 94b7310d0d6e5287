"""A PNG the bot sends, drawn in the terminal with Unicode half blocks, so a QR code can be scanned
off the screen.

Decoded here with the standard library (zlib) rather than Pillow, which the product does not depend
on: the sandbox imports nothing of the product and stays light. Non-interlaced PNGs of every colour
type are read; anything else (JPEG, GIF) returns None and the chat shows `[photo: N bytes]` instead.
"""

from __future__ import annotations

import itertools
import math
import struct
import zlib
from functools import reduce

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
MAX_COLUMNS = 80


def png_light_map(data: bytes) -> list[list[bool]] | None:
    """Rows of pixels, True where light; None if ``data`` is not a PNG this reader handles."""
    if not data.startswith(_SIGNATURE):
        return None
    pos, idat, palette = 8, bytearray(), b""
    width = height = depth = colour = interlace = -1
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = body
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    if colour not in _CHANNELS or interlace != 0 or width <= 0 or height <= 0:
        return None
    try:
        raw = zlib.decompress(bytes(idat))
    except zlib.error:
        return None
    bits = _CHANNELS[colour] * depth
    stride = math.ceil(width * bits / 8)
    step = max(1, bits // 8)
    rows: list[list[bool]] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        if start + 1 + stride > len(raw):
            return None
        line = _unfilter(raw[start], bytearray(raw[start + 1 : start + 1 + stride]), previous, step)
        previous = line
        rows.append([_light(line, x, depth, colour, palette) for x in range(width)])
    return rows


def _unfilter(kind: int, line: bytearray, previous: bytearray, step: int) -> bytearray:
    for i in range(len(line)):
        left = line[i - step] if i >= step else 0
        up = previous[i]
        corner = previous[i - step] if i >= step else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            estimate = left + up - corner
            pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
            nearest = left if pa <= pb and pa <= pc else up if pb <= pc else corner
            line[i] = (line[i] + nearest) & 0xFF
    return line


def _light(line: bytearray, x: int, depth: int, colour: int, palette: bytes) -> bool:
    if depth < 8:
        per_byte = 8 // depth
        byte = line[x // per_byte]
        shift = 8 - depth * (x % per_byte + 1)
        value = (byte >> shift) & ((1 << depth) - 1)
        if colour == 3:
            rgb = palette[3 * value : 3 * value + 3]
            return sum(rgb) >= 3 * 128 if len(rgb) == 3 else False
        return value >= (1 << depth) // 2
    size = depth // 8
    channels = _CHANNELS[colour]
    at = x * channels * size
    samples = [line[at + c * size] for c in range(channels)]  # the high byte of 16-bit samples
    if colour == 3:
        rgb = palette[3 * samples[0] : 3 * samples[0] + 3]
        return sum(rgb) >= 3 * 128 if len(rgb) == 3 else False
    if colour in (2, 6):
        return sum(samples[:3]) >= 3 * 128
    return samples[0] >= 128


def _cell_size(rows: list[list[bool]]) -> int:
    """The pixel size of one module: a QR code (or any pixel art) scaled up by an integer
    factor has every run of equal pixels a multiple of it, so their gcd recovers the modules."""
    runs: list[int] = []
    for row in rows[:: max(1, len(rows) // 40)]:
        run = 1
        for a, b in itertools.pairwise(row):
            if a == b:
                run += 1
            else:
                runs.append(run)
                run = 1
    return reduce(math.gcd, runs, 0) or 1


def half_blocks(rows: list[list[bool]], *, max_columns: int = MAX_COLUMNS) -> list[str]:
    """Terminal lines, two pixel rows per character: light pixels are drawn, dark ones left blank,
    which on a dark terminal gives the dark-on-light image a scanner reads."""
    cell = _cell_size(rows)
    width = len(rows[0]) // cell
    if width > max_columns:
        cell = math.ceil(len(rows[0]) / max_columns)
    grid = [row[cell // 2 :: cell] for row in rows[cell // 2 :: cell]]
    if len(grid) % 2:
        grid.append([True] * len(grid[0]))
    glyphs = {(True, True): "█", (True, False): "▀", (False, True): "▄", (False, False): " "}
    return [
        "".join(glyphs[top, bottom] for top, bottom in zip(grid[y], grid[y + 1], strict=True))
        for y in range(0, len(grid), 2)
    ]


def draw_png(data: bytes) -> list[str] | None:
    rows = png_light_map(data)
    return None if rows is None else half_blocks(rows)
