"""Reading the QR codes the bot sends, as a till's scanner would."""

from __future__ import annotations

import io

import zxingcpp
from PIL import Image

from sandbox import SandboxMessage


def decode_qr(message: SandboxMessage) -> str:
    assert message.photo is not None, "expected a photo"
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(message.photo.data)))
    assert len(results) == 1
    return results[0].text
