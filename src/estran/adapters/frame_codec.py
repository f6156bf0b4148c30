"""Thermal frames in and thumbnails out, with OpenCV (the ``FrameCodec`` port).

Frames arrive from a drone's ground station as PNG or TIFF, 8 or 16 bit; a thumbnail is a
64 x 64 PNG of heat around a detection, stretched to 8 bits: what an operator needs to confirm
or dismiss a detection, and no more (no face, no identity).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from estran.domain.thermal import thumbnail

__all__ = ["CHIP_PX", "MAX_FRAME_BYTES", "MAX_PIXELS", "OpenCvCodec"]

MAX_FRAME_BYTES: Final = 8 * 1024 * 1024
MAX_PIXELS: Final = 4096 * 4096
CHIP_PX: Final = 64


class OpenCvCodec:
    def decode(self, data: bytes | bytearray) -> npt.NDArray[np.generic]:
        """An encoded frame (PNG, TIFF; 8 or 16 bit) to pixels, or a clear ValueError."""
        import cv2

        if len(data) > MAX_FRAME_BYTES:
            raise ValueError(f"frame larger than {MAX_FRAME_BYTES} bytes")
        if not data:
            raise ValueError("empty frame")
        try:
            img = cv2.imdecode(np.frombuffer(bytes(data), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        except cv2.error as exc:  # OpenCV's own refusals, never a 500
            raise ValueError(f"corrupt or unreadable frame ({exc.msg})") from exc
        if img is None:
            raise ValueError("corrupt or unreadable frame")
        if img.ndim == 3:
            img = img[:, :, 0]
        if img.size > MAX_PIXELS:
            raise ValueError("frame has too many pixels")
        out: npt.NDArray[np.generic] = img
        return out

    def chip(self, pixels: npt.NDArray[np.generic], u: float, v: float) -> bytes:
        """A PNG thumbnail of ``CHIP_PX`` pixels around (u, v), stretched to 8 bits."""
        import cv2

        ok, png = cv2.imencode(".png", thumbnail(pixels, u, v, CHIP_PX))
        if not ok:  # pragma: no cover (an 8-bit array always encodes)
            raise ValueError("the thumbnail could not be encoded")
        return bytes(png.tobytes())
