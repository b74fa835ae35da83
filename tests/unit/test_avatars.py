"""avatar_images: any acceptable picture becomes bare, upright, centred square PNGs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from domain.avatars import avatar_images
from domain.images import ImageRejected
from tests.pictures import FORMATS, encode, noise, opened, photo_with_gps, picture, png_header

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def colour_at(data: bytes, x: int, y: int) -> tuple[int, ...]:
    return opened(data).convert("RGB").getpixel((x, y))


def near(colour: tuple[int, ...], expected: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 12 for a, b in zip(colour, expected, strict=True))


def halves(width: int, height: int) -> Image.Image:
    """Return a picture red in its top half and blue in its bottom half."""
    image = Image.new("RGB", (width, height), BLUE)
    image.paste(RED, (0, 0, width, height // 2))
    return image


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_accepted_format_becomes_a_png_in_both_sizes(fmt):
    images = avatar_images(picture(fmt, 90, 60))

    assert list(images) == ["256", "64"]
    for size, data in images.items():
        image = opened(data)
        assert (image.format, image.size) == ("PNG", (int(size), int(size)))


def test_a_wide_picture_keeps_its_centred_square():
    image = Image.new("RGB", (900, 300), RED)
    image.paste(GREEN, (300, 0, 600, 300))
    image.paste(BLUE, (600, 0, 900, 300))
    avatar = avatar_images(encode(image))["256"]

    assert all(near(colour_at(avatar, x, y), GREEN) for x in (8, 128, 247) for y in (8, 247))


def test_a_small_picture_is_enlarged():
    avatar = avatar_images(encode(halves(4, 4)))["256"]
    assert near(colour_at(avatar, 128, 10), RED)
    assert near(colour_at(avatar, 128, 245), BLUE)


@pytest.mark.parametrize(
    ("orientation", "left", "right"),
    [(1, None, None), (6, BLUE, RED), (8, RED, BLUE), (3, None, None)],
)
def test_the_exif_orientation_is_honoured(orientation, left, right):
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation: 6 is "turn 90 degrees clockwise to view"
    avatar = avatar_images(encode(halves(40, 40), "JPEG", exif=exif.tobytes()))["256"]

    if left is None:  # kept, or turned upside down
        top, bottom = (RED, BLUE) if orientation == 1 else (BLUE, RED)
        assert near(colour_at(avatar, 128, 20), top)
        assert near(colour_at(avatar, 128, 235), bottom)
    else:
        assert near(colour_at(avatar, 20, 128), left)
        assert near(colour_at(avatar, 235, 128), right)


def test_no_metadata_of_the_upload_survives():
    images = avatar_images(photo_with_gps())

    for data in images.values():
        image = opened(data)
        assert not image.getexif()
        assert set(image.info) <= {"dpi", "gamma"}  # what PNG's decoder reports by itself
        assert b"UpareCam" not in data and b"eXIf" not in data and b"iCCP" not in data


def test_an_icc_profile_and_text_chunks_are_dropped():
    from PIL import ImageCms, PngImagePlugin

    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "taken at home")
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    upload = encode(noise(), "PNG", pnginfo=text, icc_profile=profile)

    for data in avatar_images(upload).values():
        assert b"taken at home" not in data
        assert "icc_profile" not in opened(data).info


def test_transparency_is_kept():
    image = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (5, 5, 15, 15))
    avatar = opened(avatar_images(encode(image))["256"])

    assert avatar.mode == "RGBA"
    assert avatar.getpixel((2, 2))[3] == 0
    assert avatar.getpixel((128, 128)) == (255, 0, 0, 255)


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "I;16", "CMYK", "RGBA"])
def test_every_mode_becomes_eight_bit_grey_or_colour(mode):
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    image = opened(avatar_images(encode(noise().convert(mode), fmt))["64"])
    assert image.mode in ("L", "LA", "RGB", "RGBA")


def test_an_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (8, 8), colour) for colour in (RED, GREEN, BLUE)]
    upload = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert near(colour_at(avatar_images(upload)["64"], 32, 32), RED)


@pytest.mark.parametrize(
    "broken",
    [b"MM\x00*\x00\x00\x00\x08\x00\x05\x01\x12\x00\x03", b"not a TIFF header"],
    ids=["five entries, half of one (Pillow warns)", "no TIFF header (Pillow raises)"],
)
def test_unreadable_exif_is_ignored_and_the_picture_taken_as_stored(broken):
    avatar = avatar_images(encode(halves(40, 40), "PNG", exif=broken))["256"]
    assert near(colour_at(avatar, 128, 20), RED)


@pytest.mark.parametrize(
    ("upload", "reason"),
    [
        (b"", "is empty"),
        (b"just text", "must be a PNG, JPEG, GIF, BMP or WebP image"),
        (picture("PNG", 96, 64)[:300], "is truncated or corrupt"),
        (png_header(60000, 60000), "must be at most 4096x4096 pixels"),
        (b"BM" + bytes(5 * 1024 * 1024), "must be at most 5242880 bytes"),
    ],
    ids=["empty", "not an image", "truncated", "bomb", "too many bytes"],
)
def test_an_unacceptable_upload_is_refused_with_its_reason(upload, reason):
    with pytest.raises(ImageRejected) as refused:
        avatar_images(upload)
    assert refused.value.reason == reason


def test_the_same_picture_gives_the_same_files():
    upload = picture("JPEG")
    first, second = avatar_images(upload), avatar_images(upload)
    assert first == second
    assert np.asarray(opened(first["64"])).shape == (64, 64, 3)
