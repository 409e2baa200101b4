"""The set-up page's QR code, drawn as inline SVG by the app (no image service, no CDN)."""

from __future__ import annotations

import re

import qrcode
from qrcode.image.svg import SvgPathFillImage


def qr_svg(data: str, *, label: str) -> str:
    """An ``<svg>`` element for ``data``: a path on a white square, sized by CSS.

    The library writes a fixed size in millimetres; it is replaced by 240 pixels, which the
    page's stylesheet overrides. The size must stay in the element: without one, an SVG
    in the page's auto-width column is drawn 0 by 0 until the stylesheet arrives, or for
    good if it never does. An accessible name is added. No style attributes or
    scripts, so a strict Content-Security-Policy allows it.
    """
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(data)
    code.make(fit=True)
    svg: str = code.make_image(image_factory=SvgPathFillImage).to_string(encoding="unicode")
    label = label.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return re.sub(
        r'^<svg width="[^"]*" height="[^"]*"',
        f'<svg class="qr-code" width="240" height="240" role="img" aria-label="{label}"',
        svg,
        count=1,
    )
