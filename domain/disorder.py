"""Scramble an image's tiles with a keyed permutation, and put them back (Image/disorder).

Tiles. The image is cut into `block` x `block` tiles from the top-left corner. Only the full
tiles are permuted: when the width or height is not a multiple of `block`, the ragged strip on
the right and the one at the bottom stay where they are, untouched. That makes decryption the
exact inverse for every size (an image smaller than one tile, or exactly one tile, comes back
unchanged), at the price of leaving those strips readable.

Permutation. `seed = HMAC-SHA256(key, "upare/disorder/v1" || count)`, with the key UTF-8 encoded
and `count` (the number of full tiles) as 8 big-endian bytes, so each tile count gets an
unrelated permutation. SHAKE-256 stretches the seed into one little-endian 64-bit tag per tile;
the low bits of each tag are replaced by the tile's index, which makes the tags unique (the
rare ties in the remaining >= 44 random bits are broken by index) and the sorted order
independent of the sort algorithm. Tiles in tag order form a uniformly random cycle through all
tiles, so when there are two or more tiles every one of them moves. Only standard, fixed
primitives are involved: the same key, block and size give the same permutation on every
platform and NumPy/Python version. (HMAC in counter mode costs ~1.5 us per 32-byte block in
Python: ~17 ms for a 12 MP image at block 16, as much as moving the tiles, and ~0.4 s for
4096x4096 at block 4; SHAKE-256 expands the HMAC output in one C call.)

Keys. Encrypting without a key uses a fresh `generate_key()` and returns it; decrypting without
a key is refused (100004), since no generated key could restore anything.

Modes. Pixels are handled as 8-bit L, LA, RGB or RGBA; anything else is converted first, and
the round trip is exact for the converted image: 1 -> L; 16-bit greyscale (I;16*, I) -> L by
keeping the high byte; F -> L (clipped); P -> RGBA when it has transparency, else RGB; PA ->
RGBA; L or RGB with a transparent colour -> LA or RGBA; every other mode (CMYK, YCbCr, LAB,
...) -> RGB. BMP output cannot keep an alpha channel (Pillow reads 32-bit BMP back as RGB): an
alpha channel that is fully opaque is dropped, otherwise bmp is refused with 100004. Metadata
(ICC profile, EXIF, text chunks) is not carried over.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets

import numpy as np
from PIL import Image

from domain.errors import invalid
from domain.images import ImageRejected, open_image

DEFAULT_BLOCK = 16
MIN_BLOCK = 4
MAX_BLOCK = 256
MAX_KEY_LENGTH = 256
ACTIONS = ("encrypt", "decrypt")
FORMATS = ("png", "bmp")
LOSSY_FORMATS = ("jpg", "jpeg", "jpe", "jfif", "webp", "gif", "avif", "heic", "heif", "jxl")
PNG_COMPRESS_LEVEL = 1  # the output is returned right away: favour latency over a few % of size

_CONTEXT = b"upare/disorder/v1"
_GREY_MODES = frozenset({"1", "L", "LA", "La", "F"})
_SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})


def generate_key() -> str:
    """Return a fresh random key: 256 bits, URL-safe base64 without padding (43 chars)."""
    return secrets.token_urlsafe(32)


def permutation(key: str, count: int) -> np.ndarray:
    """Return the keyed tile permutation: encrypted tile `i` is source tile `result[i]`."""
    if count < 2:
        return np.arange(count, dtype=np.intp)
    seed = hmac.digest(
        key.encode("utf-8", "surrogatepass"), _CONTEXT + count.to_bytes(8, "big"), "sha256"
    )
    tags = np.frombuffer(hashlib.shake_256(seed).digest(8 * count), dtype="<u8")
    index_bits = (count - 1).bit_length()
    unique = (tags >> np.uint64(index_bits) << np.uint64(index_bits)) | np.arange(
        count, dtype=np.uint64
    )
    order = (np.sort(unique) & np.uint64((1 << index_bits) - 1)).astype(np.intp)
    result = np.empty(count, dtype=np.intp)
    result[order] = np.roll(order, -1)
    return result


def normalise(image: Image.Image) -> Image.Image:
    """Return `image` in L, LA, RGB or RGBA, converted as the module docstring lists."""
    if image.mode in _SIXTEEN_BIT_MODES:
        return _sixteen_bit_to_grey(image)
    has_alpha = image.has_transparency_data
    if image.mode in ("L", "LA", "RGB", "RGBA") and image.mode.endswith("A") == has_alpha:
        return image
    grey = image.mode in _GREY_MODES
    if has_alpha:
        return image.convert("LA" if grey else "RGBA")
    return image.convert("L" if grey else "RGB")


def scramble(image: Image.Image, key: str, block: int, decrypt: bool = False) -> Image.Image:
    """Permute (or with `decrypt`, un-permute) the full `block`-pixel tiles of `image`."""
    pixels = np.asarray(normalise(image))
    return Image.fromarray(scramble_pixels(pixels, key, block, decrypt=decrypt))


def scramble_pixels(pixels: np.ndarray, key: str, block: int, decrypt: bool = False) -> np.ndarray:
    """Return a copy of (height, width[, channels]) `pixels` with its full tiles permuted."""
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    channels = pixels.shape[2] if pixels.ndim == 3 else 1
    rows, cols = height // block, width // block
    count = rows * cols
    if count < 2:
        return pixels.copy()
    order = permutation(key, count)
    # Where each source tile lands: encrypting puts source order[i] at i, so it needs the
    # inverse of `order`; decrypting sends tile i back to order[i].
    if decrypt:
        target = order
    else:
        target = np.empty_like(order)
        target[order] = np.arange(count, dtype=order.dtype)
    result = np.empty(pixels.shape, dtype=pixels.dtype)
    result[rows * block :] = pixels[rows * block :]
    result[: rows * block, cols * block :] = pixels[: rows * block, cols * block :]
    # One tile row (block pixels of one image row) is a single opaque item, so the move is one
    # vectorised scatter of rows * block * cols items instead of per-byte indexing.
    source_items = _tile_rows(pixels, rows, cols, block, channels)
    result_items = _tile_rows(result, rows, cols, block, channels)
    target_rows = (target // cols).reshape(rows, cols)
    target_cols = (target % cols).reshape(rows, cols)
    result_items[target_rows, :, target_cols] = source_items.transpose(0, 2, 1)
    return result


def disorder(
    data: bytes,
    key: str | None,
    block: int | str | None = DEFAULT_BLOCK,
    action: str | None = "encrypt",
    fmt: str | None = "png",
) -> tuple[bytes, str]:
    """Encrypt or decrypt an uploaded image; return the encoded result and the key used."""
    size = _check_block(block)
    decrypt = _check_action(action)
    out_format = _check_format(fmt)
    key = _check_key(key, decrypt)
    try:
        image = normalise(open_image(data))
    except ImageRejected as ex:
        raise invalid(image=ex.reason) from ex
    if out_format == "bmp":
        image = _without_alpha_for_bmp(image)
    scrambled = scramble(image, key, size, decrypt=decrypt)
    buffer = io.BytesIO()
    if out_format == "png":
        scrambled.save(buffer, "PNG", compress_level=PNG_COMPRESS_LEVEL)
    else:
        scrambled.save(buffer, "BMP")
    return buffer.getvalue(), key


def _tile_rows(pixels: np.ndarray, rows: int, cols: int, block: int, channels: int) -> np.ndarray:
    """View the full-tile region as (tile row, line within tile, tile column) opaque items."""
    lines = pixels.reshape(pixels.shape[0], -1)[: rows * block, : cols * block * channels]
    item = np.dtype((np.void, block * channels * pixels.itemsize))
    return lines.view(item).reshape(rows, block, cols)


def _sixteen_bit_to_grey(image: Image.Image) -> Image.Image:
    """Return a 16-bit greyscale image as 8-bit L (or LA if it has a transparent value)."""
    wide = np.asarray(image).astype(np.int64)
    grey = (np.clip(wide, 0, 65535) >> 8).astype(np.uint8)
    transparent = image.info.get("transparency")
    if isinstance(transparent, int):
        alpha = np.where(wide == transparent, 0, 255).astype(np.uint8)
        return Image.fromarray(np.dstack([grey, alpha]))
    return Image.fromarray(grey)


def _without_alpha_for_bmp(image: Image.Image) -> Image.Image:
    """Drop a fully opaque alpha channel; refuse bmp when transparency would be lost."""
    if image.mode not in ("LA", "RGBA"):
        return image
    alpha = image.getchannel("A")
    if alpha.getextrema() != (255, 255):
        raise invalid(type="bmp cannot keep this image's transparency; use png")
    return image.convert(image.mode[:-1])


def _check_block(block: int | str | None) -> int:
    """Return the tile size as an int, or raise 100004 unless it is an integer 4-256."""
    reason = f"must be an integer {MIN_BLOCK}-{MAX_BLOCK}"
    if block is None:
        return DEFAULT_BLOCK
    if isinstance(block, str):
        text = block.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 4):
            raise invalid(block=reason)
        block = int(text)
    if isinstance(block, bool) or not isinstance(block, int):
        raise invalid(block=reason)
    if not MIN_BLOCK <= block <= MAX_BLOCK:
        raise invalid(block=reason)
    return block


def _check_action(action: str | None) -> bool:
    """Return True for decrypt, False for encrypt (the default); raise 100004 otherwise."""
    if action is None:
        return False
    if not isinstance(action, str) or action.strip().lower() not in ACTIONS:
        raise invalid(action="must be encrypt or decrypt")
    return action.strip().lower() == "decrypt"


def _check_format(fmt: str | None) -> str:
    """Return png (the default) or bmp; refuse lossy and unknown output types with 100004."""
    if fmt is None:
        return "png"
    name = fmt.strip().lower().lstrip(".") if isinstance(fmt, str) else ""
    if name in FORMATS:
        return name
    if name in LOSSY_FORMATS:
        raise invalid(
            type=f"lossy output ({name}) is refused: it cannot be decrypted; use png or bmp"
        )
    raise invalid(type="must be png or bmp")


def _check_key(key: str | None, decrypt: bool) -> str:
    """Return the given key, or a new one when encrypting without one; raise 100004 if bad."""
    if key is None:
        if decrypt:
            raise invalid(key="is required to decrypt")
        return generate_key()
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise invalid(key=f"must be 1-{MAX_KEY_LENGTH} characters")
    return key
