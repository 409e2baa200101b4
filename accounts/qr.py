"""The set-up page's QR code, drawn as inline SVG by the app (no image service, no CDN)."""

from __future__ import annotations

import re

import qrcode
from qrcode.image.svg import SvgPathFillImage


def qr_svg(data: str, *, label: str) -> str:
    """An ``<svg>`` element for ``data``: a path on a white square, sized by CSS.

    The library writes a fixed size in millimetres; that is dropped so the page's
    stylesheet sizes it, and an accessible name is added. No style attributes or
    scripts, so a strict Content-Security-Policy allows it.
    """
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(data)
    code.make(fit=True)
    svg: str = code.make_image(image_factory=SvgPathFillImage).to_string(encoding="unicode")
    label = label.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return re.sub(
        r'^<svg width="[^"]*" height="[^"]*"',
        f'<svg class="qr-code" role="img" aria-label="{label}"',
        svg,
        count=1,
    )
