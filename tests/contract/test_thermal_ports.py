"""The thermal ports, each held to one suite: frame codecs (OpenCV; the ``.npy`` fake) and
blob finders (the hot-spot detector; the brightest-pixel fake)."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from estran.adapters.fakes import BrightestFinder, NpyCodec
from estran.adapters.frame_codec import OpenCvCodec
from estran.domain.thermal import DetectorParams, detect_blobs
from estran.ports import BlobFinder, FrameCodec


def _png(pixels: npt.NDArray[np.generic]) -> bytes:
    ok, data = cv2.imencode(".png", np.asarray(pixels, dtype=np.uint16))
    assert ok
    return bytes(data.tobytes())


CODECS: dict[str, tuple[FrameCodec, Callable[[npt.NDArray[np.generic]], bytes]]] = {
    "opencv": (OpenCvCodec(), _png),
    "npy": (NpyCodec(), NpyCodec.encode),
}


def frame(hot: tuple[int, int] | None = (200, 120)) -> npt.NDArray[np.uint16]:
    rng = np.random.default_rng(3)
    pixels = (29_000 + rng.normal(0, 5, (240, 320))).astype(np.uint16)
    if hot is not None:
        u, v = hot
        pixels[v - 2 : v + 3, u - 2 : u + 3] = 29_800  # a warm body, 8 K above the ground
    return pixels


@pytest.mark.parametrize("name", CODECS)
def test_a_16_bit_frame_decodes_to_the_same_pixels(name):
    codec, encode = CODECS[name]
    pixels = frame()
    got = codec.decode(encode(pixels))
    assert got.shape == pixels.shape
    assert np.array_equal(got, pixels)


@pytest.mark.parametrize("name", CODECS)
def test_garbage_and_oversized_input_are_refused_with_a_reason(name):
    codec, _ = CODECS[name]
    for bad in (b"", b"garbage", b"\x89PNG\r\n\x1a\n" + b"\0" * 50):
        with pytest.raises(ValueError, match=r"."):
            codec.decode(bad)
    with pytest.raises(ValueError, match="larger than"):
        codec.decode(b"\0" * (8 * 1024 * 1024 + 1))


@pytest.mark.parametrize("name", CODECS)
def test_a_thumbnail_is_a_small_8_bit_image_around_the_point(name):
    codec, _ = CODECS[name]
    pixels = frame()
    thumb = codec.decode(codec.chip(pixels, 200.0, 120.0))
    assert thumb.shape == (64, 64)
    assert thumb.dtype == np.uint8
    assert int(thumb.max()) == 255  # the warm body, stretched to white
    corner = codec.decode(codec.chip(pixels, 0.0, 0.0))
    assert corner.shape == (64, 64)  # kept inside the frame at its edge


FINDERS: dict[str, BlobFinder] = {"hot-spot": detect_blobs, "brightest": BrightestFinder()}


@pytest.mark.parametrize("name", FINDERS)
def test_a_warm_body_is_found_where_it_is_and_a_cold_frame_has_none(name):
    find = FINDERS[name]
    blobs = find(frame((200, 120)), DetectorParams())
    assert blobs
    assert min(abs(b.u - 200) + abs(b.v - 120) for b in blobs) <= 3
    assert all(b.excess_k > 1.0 for b in blobs)
    assert find(frame(None), DetectorParams()) == []
