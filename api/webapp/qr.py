"""QR codes for the page, drawn by the server as small SVGs with segno (as the chat's card is),
so the page carries no QR library of its own."""

from __future__ import annotations

import io

import segno


def qr_svg(payload: str) -> str:
    buffer = io.BytesIO()
    # Error level M survives a scratched screen; the border is the quiet zone scanners need; no
    # size: the page scales it to the screen.
    segno.make_qr(payload, error="m").save(buffer, kind="svg", border=4, xmldecl=False, svgns=True, omitsize=True)
    return buffer.getvalue().decode("utf-8")
