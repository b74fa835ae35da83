"""Pictures for upload tests, and the multipart bodies that carry them."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

# format: Pillow's save options (WebP lossless, so that pixels can be compared)
FORMATS = {"PNG": {}, "JPEG": {}, "GIF": {}, "BMP": {}, "WEBP": {"lossless": True}}
GPS = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}  # GPSInfo: a place
BOUNDARY = "uparetestboundary"


def encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    """Return `image` saved as `fmt`."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def noise(width: int = 48, height: int = 32, seed: int = 0) -> Image.Image:
    """Return a deterministic RGB noise image."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def picture(fmt: str = "PNG", width: int = 48, height: int = 32) -> bytes:
    """Return a noise picture in `fmt`."""
    return encode(noise(width, height), fmt, **FORMATS[fmt])


def photo_with_gps(width: int = 64, height: int = 48) -> bytes:
    """Return a JPEG whose EXIF says where it was taken (and by which camera)."""
    exif = Image.Exif()
    exif[0x010F] = "UpareCam"  # Make
    exif[0x8825] = GPS  # GPSInfo IFD
    return encode(noise(width, height), "JPEG", exif=exif.tobytes())


def png_header(width: int, height: int) -> bytes:
    """Return a tiny PNG that declares `width` x `height` pixels and carries none."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def multipart(
    fields: dict[str, str] | None = None,
    files: dict[str, bytes] | None = None,
    content_type: str = "application/octet-stream",
) -> tuple[bytes, dict[str, str]]:
    """Return a multipart/form-data body with these text fields and files, and its header."""
    body = b""
    for name, value in (fields or {}).items():
        disposition = f'Content-Disposition: form-data; name="{name}"'
        body += f"--{BOUNDARY}\r\n{disposition}\r\n\r\n{value}\r\n".encode()
    for name, data in (files or {}).items():
        disposition = f'Content-Disposition: form-data; name="{name}"; filename="upload"'
        head = f"--{BOUNDARY}\r\n{disposition}\r\nContent-Type: {content_type}\r\n\r\n"
        body += head.encode() + data + b"\r\n"
    body += f"--{BOUNDARY}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def opened(data: bytes) -> Image.Image:
    """Return the decoded picture, fully loaded."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
