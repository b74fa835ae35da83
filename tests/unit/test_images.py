"""open_image: only bounded PNG, JPEG, GIF, BMP and WebP uploads decode; the rest is refused."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from domain.images import ImageRejected, open_image

NOT_AN_IMAGE = "must be a PNG, JPEG, GIF, BMP or WebP image"
CORRUPT = "is truncated or corrupt"
TOO_LARGE = "must be at most 4096x4096 pixels"


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    """Return `image` saved as `fmt`."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def noise(width: int = 24, height: int = 16, mode: str = "RGB") -> Image.Image:
    """Return a deterministic noise image."""
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels).convert(mode)


def png_header(width: int, height: int) -> bytes:
    """Return a PNG that claims `width` x `height` but carries no pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def reason(data: bytes, **limits: int) -> str:
    """Return why `open_image` refuses `data`."""
    with pytest.raises(ImageRejected) as caught:
        open_image(data, **limits)
    return caught.value.reason


@pytest.mark.parametrize(
    ("fmt", "options"),
    [("PNG", {}), ("JPEG", {}), ("GIF", {}), ("BMP", {}), ("WEBP", {"lossless": True})],
)
def test_each_allowed_format_is_recognised_by_its_content(fmt, options):
    image = open_image(encode(noise(), fmt, **options))
    assert image.format == fmt
    assert image.size == (24, 16)


def test_an_animated_gif_yields_its_first_frame():
    frames = [Image.new("L", (8, 8), shade) for shade in (10, 200, 90)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert open_image(data).convert("L").getpixel((3, 3)) == 10


def test_the_pixels_are_loaded_before_returning():
    image = open_image(encode(noise(), "PNG"))
    assert np.array_equal(np.asarray(image), np.asarray(noise()))


def test_a_well_formed_image_of_another_format_is_refused():
    assert reason(encode(noise(), "TIFF")) == NOT_AN_IMAGE


@pytest.mark.parametrize("data", [b"hello, world", b"\x89PNG\r\n\x1a\n", bytes(64)])
def test_bytes_that_are_not_an_image_are_refused(data):
    assert reason(data) == NOT_AN_IMAGE


def test_an_empty_upload_is_refused():
    assert reason(b"") == "is empty"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_a_truncated_image_is_refused(fmt):
    data = encode(noise(96, 64), fmt)
    assert reason(data[: len(data) * 2 // 3]) == CORRUPT


def test_more_bytes_than_allowed_are_refused_before_decoding():
    data = encode(noise(), "BMP")
    assert reason(data, max_bytes=len(data) - 1) == f"must be at most {len(data) - 1} bytes"
    assert open_image(data, max_bytes=len(data)).size == (24, 16)


def test_the_default_byte_limit_is_five_mebibytes():
    assert reason(b"BM" + bytes(5 * 1024 * 1024 - 1)) == "must be at most 5242880 bytes"


@pytest.mark.parametrize(("width", "height"), [(4097, 1), (1, 4097), (60000, 60000)])
def test_more_pixels_than_allowed_are_refused_from_the_header(width, height):
    assert reason(png_header(width, height)) == TOO_LARGE


def test_the_side_limit_is_configurable():
    data = encode(noise(24, 16), "PNG")
    assert reason(data, max_pixels_side=20) == "must be at most 20x20 pixels"
    assert open_image(data, max_pixels_side=24).size == (24, 16)


@pytest.mark.parametrize(("width", "height"), [(10000, 10000), (20000, 20000)])
def test_a_decompression_bomb_header_is_refused(width, height):
    # Over Image.MAX_IMAGE_PIXELS (Pillow warns) and over twice it (Pillow raises).
    assert reason(png_header(width, height), max_pixels_side=100000) == (
        "must be at most 100000x100000 pixels"
    )


def test_pillow_bomb_guard_applies_even_within_the_side_limit(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    assert reason(encode(noise(12, 12), "PNG")) == TOO_LARGE
    assert reason(encode(noise(24, 16), "PNG")) == TOO_LARGE


def test_a_rejection_is_a_value_error_carrying_its_reason():
    with pytest.raises(ValueError, match="is empty"):
        open_image(b"")


def seeds() -> list[bytes]:
    """Return small valid files of every allowed format, to be mutated."""
    return [
        encode(noise(12, 8), fmt, **options)
        for fmt, options in [
            ("PNG", {}),
            ("JPEG", {}),
            ("GIF", {}),
            ("BMP", {}),
            ("WEBP", {"lossless": True}),
        ]
    ]


@settings(max_examples=100, deadline=None)
@given(
    seed=st.sampled_from(seeds()),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6),
    cut=st.integers(0, 10**6),
)
def test_a_damaged_file_never_escapes_as_anything_but_a_rejection(seed, edits, cut):
    data = bytearray(seed)
    for position, value in edits:
        data[position % len(data)] = value
    data = data[: max(1, cut % (len(data) + 1))]
    try:
        image = open_image(bytes(data))
    except ImageRejected as ex:
        assert ex.reason
    else:
        assert image.size[0] >= 1 and image.size[1] >= 1


def test_metadata_pillow_can_only_partly_read_is_no_refusal():
    broken_exif = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x05\x01\x12\x00\x03"  # half an entry
    data = encode(noise(), "JPEG", exif=broken_exif)
    assert open_image(data).size == (24, 16)  # Pillow warned: tests turn that into an error
