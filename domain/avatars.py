"""Avatars: an uploaded picture re-encoded as square PNGs in the sizes clients ask for.

The upload goes through `domain.images.open_image` (format by content, 5 MiB, 4096x4096,
bombs and truncated files refused: `ImageRejected`). Then its EXIF orientation is applied, so
that a phone photo stands the right way up; it is converted to 8-bit L, LA, RGB or RGBA as
Image/disorder converts (`domain.disorder.normalise`); the largest centred square is cut out
and resized (Lanczos; a smaller picture is enlarged) to each of `SIZES`.

Nothing of the upload but its pixels survives: each size is a fresh image with no `info`
(EXIF with its GPS position, XMP, ICC profile, text chunks, comments), written as PNG, which
stores nothing it is not given. PNG because every client decodes it, it keeps transparency,
and a lossless copy of at most 256x256 pixels is small enough (typically 50-150 KB for a
photo) that a lossy format would save bandwidth at the price of a second lossy generation.
A colour profile is dropped, not converted: a wide-gamut photo comes out slightly duller.
"""

from __future__ import annotations

import io
import struct
import warnings

from PIL import Image, ImageOps

from domain.disorder import normalise
from domain.images import ImageRejected, open_image

SIZES = (256, 64)  # pixels per side; the keys of the stored files are these as text
DEFAULT_SIZE = 256
# what Pillow's EXIF reader raises on malformed data (found by fuzzing it)
EXIF_ERRORS = (struct.error, ValueError, TypeError, KeyError, IndexError, OSError, SyntaxError)


def avatar_images(data: bytes) -> dict[str, bytes]:
    """Return the avatar of an uploaded picture as PNG bytes per size, or raise
    `ImageRejected` saying why the upload is not an acceptable picture."""
    upright = normalise(_upright(open_image(data)))
    width, height = upright.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    square = (left, top, left + side, top + side)
    return {
        str(size): _png(upright.resize((size, size), Image.Resampling.LANCZOS, square))
        for size in SIZES
    }


def _upright(image: Image.Image) -> Image.Image:
    """Return the image turned as its EXIF orientation says.

    EXIF that Pillow cannot read, or reads only in part (it warns then), is refused rather
    than guessed at: the orientation it holds is unknown.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            return ImageOps.exif_transpose(image)
    except (UserWarning, *EXIF_ERRORS) as ex:
        raise ImageRejected("has unreadable EXIF data") from ex


def _png(image: Image.Image) -> bytes:
    """Return the pixels alone as PNG: a fresh image carries none of the upload's metadata."""
    bare = Image.frombytes(image.mode, image.size, image.tobytes())
    buffer = io.BytesIO()
    bare.save(buffer, "PNG")
    return buffer.getvalue()
