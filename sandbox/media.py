"""Files the bot uploads or members send: identifiers, image dimensions, PhotoSize sets."""

from __future__ import annotations

import itertools
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

_counter = itertools.count(1)


def new_file_id(prefix: str = "AgACAgIAAxkBAAI") -> str:
    """An opaque identifier shaped like Telegram's (base64url, long, type-prefixed)."""
    return f"{prefix}{next(_counter):06d}{secrets.token_urlsafe(24)}"


def new_file_unique_id() -> str:
    return f"AQAD{secrets.token_urlsafe(10)}"


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, JPEG, GIF or WebP image; None if not a recognised image.

    Telegram re-encodes uploads and refuses what it cannot decode, so the sandbox needs the
    real dimensions for PhotoSize and a way to refuse junk bytes.
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return width, height
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (segment_length,) = struct.unpack(">H", data[i + 2 : i + 4])
        # SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + segment_length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None


@dataclass(eq=False)
class StoredFile:
    """A file the sandbox holds: the bytes (None for a URL it did not fetch) and its sizes.

    For a photo, ``sizes`` is the PhotoSize array Telegram returns (a thumbnail plus the
    full size); every size's file_id resolves to this object, so sending any of them again
    reuses the photo exactly as Telegram does.
    """

    kind: str  # "photo" | "sticker" | "document"
    file_id: str
    file_unique_id: str
    data: bytes | None
    width: int
    height: int
    file_path: str
    url: str | None = None
    sizes: list[dict[str, Any]] = field(default_factory=list)
    file_name: str | None = None  # documents: as uploaded
    mime_type: str | None = None  # documents: from the file name, as Telegram guesses it

    @property
    def size(self) -> int | None:
        return None if self.data is None else len(self.data)

    def document_json(self) -> dict[str, Any]:
        """Telegram's Document object, as a Message carries it."""
        result: dict[str, Any] = {"file_id": self.file_id, "file_unique_id": self.file_unique_id}
        if self.file_name is not None:
            result["file_name"] = self.file_name
        if self.mime_type is not None:
            result["mime_type"] = self.mime_type
        if self.data is not None:
            result["file_size"] = len(self.data)
        return result

    def file_json(self) -> dict[str, Any]:
        """Telegram's File object, as getFile returns it."""
        result: dict[str, Any] = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_path": self.file_path,
        }
        if self.data is not None:
            result["file_size"] = len(self.data)
        return result


_THUMBNAIL_SIDE = 90
_MAX_PHOTO_SIDE = 2560


def _scaled(width: int, height: int, side: int) -> tuple[int, int]:
    longest = max(width, height)
    if longest <= side:
        return width, height
    factor = side / longest
    return max(1, round(width * factor)), max(1, round(height * factor))


def photo_sizes(width: int, height: int, data_size: int | None) -> list[dict[str, Any]]:
    """A thumbnail (if the image is larger than one) and the full size, capped like Telegram.

    The sandbox does not resample images: every size serves the uploaded bytes.
    """
    sizes: list[dict[str, Any]] = []
    if max(width, height) > _THUMBNAIL_SIDE:
        thumb_w, thumb_h = _scaled(width, height, _THUMBNAIL_SIDE)
        sizes.append(
            {
                "file_id": new_file_id(),
                "file_unique_id": new_file_unique_id(),
                "width": thumb_w,
                "height": thumb_h,
            }
        )
    full_w, full_h = _scaled(width, height, _MAX_PHOTO_SIDE)
    full: dict[str, Any] = {
        "file_id": new_file_id(),
        "file_unique_id": new_file_unique_id(),
        "width": full_w,
        "height": full_h,
    }
    if data_size is not None:
        full["file_size"] = data_size
    sizes.append(full)
    return sizes
