"""Open untrusted image uploads safely: format by content, size caps before decoding.

`open_image` is shared by every endpoint that takes an image (Image/disorder, avatars). It
raises `ImageRejected` with a human-readable reason and leaves the error code to the caller:
disorder answers 100004 (`invalid(image=reason)`), avatar upload will answer 202301.

Checks, in order: not empty, at most `max_bytes`; the format is sniffed from the bytes (the
file name is never consulted) and must be PNG, JPEG, GIF, BMP or WebP; the dimensions from the
header must be at most `max_pixels_side` on each side, checked before any pixel is decoded;
then the pixels are decoded with `.load()` so that truncated or corrupt data fail here rather
than later. Pillow's own decompression-bomb guard (`Image.MAX_IMAGE_PIXELS`) is honoured too:
its warning is turned into an error for the duration of the decode and both become a refusal.
Pillow's other warnings (UserWarning: corrupt EXIF it skipped, a malformed MPO or APNG read
as a plain JPEG or PNG) are no refusal, since the pixels decode; they are silenced, so that
the tests, which turn warnings into errors, meet what production meets.
Animated GIF, WebP and APNG files yield their first frame.
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image, UnidentifiedImageError

ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS_SIDE = 4096

# What Pillow's plugins raise on malformed input, beyond the decompression-bomb guards.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, TypeError)


class ImageRejected(ValueError):
    """An upload that is not an acceptable image; `reason` says why, for the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def open_image(
    data: bytes, max_bytes: int = MAX_BYTES, max_pixels_side: int = MAX_PIXELS_SIDE
) -> Image.Image:
    """Decode `data` into a fully loaded image, or raise `ImageRejected` saying why not."""
    if not data:
        raise ImageRejected("is empty")
    if len(data) > max_bytes:
        raise ImageRejected(f"must be at most {max_bytes} bytes")
    with _refusing_bad_data(max_pixels_side):
        image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageRejected("has no pixels")
    if width > max_pixels_side or height > max_pixels_side:
        raise ImageRejected(f"must be at most {max_pixels_side}x{max_pixels_side} pixels")
    with _refusing_bad_data(max_pixels_side):
        image.load()
    return image


@contextmanager
def _refusing_bad_data(max_pixels_side: int) -> Iterator[None]:
    """Turn Pillow's decoding failures and bomb warnings into `ImageRejected`."""
    too_big = f"must be at most {max_pixels_side}x{max_pixels_side} pixels"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            warnings.simplefilter("ignore", UserWarning)
            yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as ex:
        raise ImageRejected(too_big) from ex
    except UnidentifiedImageError as ex:
        raise ImageRejected("must be a PNG, JPEG, GIF, BMP or WebP image") from ex
    except MemoryError as ex:
        raise ImageRejected(too_big) from ex
    except _DECODE_ERRORS as ex:
        raise ImageRejected("is truncated or corrupt") from ex
