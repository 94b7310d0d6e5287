"""QR images for what a till scans: the member card (later coupons)."""

from __future__ import annotations

import io

import segno


def qr_png(payload: str, *, scale: int = 10) -> bytes:
    buffer = io.BytesIO()
    # Error level M survives a scratched phone screen; the border is the quiet zone scanners need.
    segno.make_qr(payload, error="m").save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()
