"""Image/disorder: keyed tile scrambling round-trips exactly and refuses bad input (100004)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from domain.disorder import (
    disorder,
    generate_key,
    normalise,
    permutation,
    scramble,
    scramble_pixels,
)
from domain.errors import UpareError

BANDS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "P": 1}
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def make_image(mode: str, width: int, height: int, seed: int) -> Image.Image:
    """Return a noise image; mode "P+t" is a palette image with a transparent index."""
    rng = np.random.default_rng(seed)
    base = mode.removesuffix("+t")
    noise = rng.integers(0, 256, width * height * BANDS[base], dtype=np.uint8)
    image = Image.frombytes(base, (width, height), noise.tobytes())
    if base == "P":
        image.putpalette(rng.integers(0, 256, 768, dtype=np.uint8).tobytes())
        if mode.endswith("+t"):
            image.info["transparency"] = 0
    return image


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    """Return `image` saved as `fmt`."""
    buffer = io.BytesIO()
    extra = {"transparency": image.info["transparency"]} if "transparency" in image.info else {}
    image.save(buffer, fmt, **extra)
    return buffer.getvalue()


def decode(data: bytes) -> np.ndarray:
    """Return the pixels of encoded image `data`."""
    with Image.open(io.BytesIO(data)) as image:
        return np.array(image)


def refusal(call: object, *args: object, **kwargs: object) -> dict[str, str]:
    """Return the `errors` of the 100004 that calling `call` must raise."""
    with pytest.raises(UpareError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    assert caught.value.code == 100004
    assert caught.value.status == 400
    assert caught.value.errors
    return caught.value.errors


def tiles_of(pixels: np.ndarray, block: int) -> list[np.ndarray]:
    """Return the full tiles of `pixels`, row by row."""
    rows, cols = pixels.shape[0] // block, pixels.shape[1] // block
    return [
        pixels[row * block : (row + 1) * block, col * block : (col + 1) * block]
        for row in range(rows)
        for col in range(cols)
    ]


sizes = st.integers(min_value=1, max_value=70)
blocks = st.sampled_from([4, 5, 7, 8, 16, 33])
seeds = st.integers(min_value=0, max_value=2**32 - 1)
keys = st.text(min_size=1, max_size=40)


@FAST
@given(
    mode=st.sampled_from(["L", "LA", "RGB", "RGBA", "P", "P+t"]),
    width=sizes,
    height=sizes,
    block=blocks,
    seed=seeds,
    key=keys,
)
def test_scramble_then_unscramble_restores_every_pixel(mode, width, height, block, seed, key):
    image = make_image(mode, width, height, seed)
    encrypted = scramble(image, key, block)
    decrypted = scramble(encrypted, key, block, decrypt=True)
    assert decrypted.mode == normalise(image).mode
    assert np.array_equal(np.asarray(decrypted), np.asarray(normalise(image)))


@FAST
@given(
    mode=st.sampled_from(["L", "LA", "RGB", "RGBA", "P", "P+t"]),
    width=st.one_of(st.just(1), sizes),
    height=sizes,
    block=blocks,
    seed=seeds,
    encrypt_as=st.sampled_from(["png", "bmp"]),
    decrypt_as=st.sampled_from(["png", "bmp"]),
)
def test_disorder_round_trip_through_png_and_bmp_is_exact(
    mode, width, height, block, seed, encrypt_as, decrypt_as
):
    image = make_image(mode, width, height, seed)
    if "bmp" in (encrypt_as, decrypt_as):
        image = normalise(image)
        if image.mode.endswith("A"):  # bmp keeps alpha only when it is fully opaque
            image.putalpha(255)
    encrypted, key = disorder(encode(image), None, block, "encrypt", encrypt_as)
    decrypted, same_key = disorder(encrypted, key, block, "decrypt", decrypt_as)
    assert same_key == key
    expected = np.asarray(normalise(image))
    if "bmp" in (encrypt_as, decrypt_as) and image.mode.endswith("A"):
        expected = expected[..., 0] if image.mode == "LA" else expected[..., :3]
    assert np.array_equal(decode(decrypted), expected)


@FAST
@given(
    mode=st.sampled_from(["L", "RGB", "RGBA"]),
    cols=st.integers(min_value=2, max_value=6),
    rows=st.integers(min_value=2, max_value=6),
    block=st.sampled_from([4, 5, 8]),
    ragged=st.integers(min_value=0, max_value=3),
    seed=seeds,
    key=keys,
    other=keys,
)
def test_another_key_does_not_restore_the_image(mode, cols, rows, block, ragged, seed, key, other):
    # Only possible when the two keys' permutations differ: with n tiles there are (n-1)!
    # cycles, so tiny grids collide often (2 tiles: always). Every grid here has >= 4 tiles.
    assume(not np.array_equal(permutation(key, rows * cols), permutation(other, rows * cols)))
    image = make_image(mode, cols * block + ragged, rows * block + ragged, seed)
    encrypted = scramble(image, key, block)
    wrong = scramble(encrypted, other, block, decrypt=True)
    assert not np.array_equal(np.asarray(wrong), np.asarray(image))


def test_another_key_does_not_restore_a_photo_sized_grid():
    image = make_image("RGB", 64, 48, seed=7)
    encrypted, _ = disorder(encode(image), "right key", 8)
    wrong, _ = disorder(encrypted, "wrong key", 8, "decrypt")
    assert not np.array_equal(decode(wrong), np.asarray(image))


@FAST
@given(
    mode=st.sampled_from(["L", "LA", "RGB", "RGBA"]),
    width=st.integers(min_value=16, max_value=60),
    height=st.integers(min_value=16, max_value=60),
    block=st.sampled_from([4, 5, 8]),
    seed=seeds,
    key=keys,
)
def test_encryption_moves_every_full_tile_and_leaves_ragged_strips(
    mode, width, height, block, seed, key
):
    image = make_image(mode, width, height, seed)
    original = np.asarray(image)
    encrypted = np.asarray(scramble(image, key, block))
    before, after = tiles_of(original, block), tiles_of(encrypted, block)
    order = permutation(key, len(before))
    for position, tile in enumerate(after):
        assert np.array_equal(tile, before[order[position]])
        assert not np.array_equal(tile, before[position])
    full_height, full_width = (height // block) * block, (width // block) * block
    assert np.array_equal(encrypted[full_height:], original[full_height:])
    assert np.array_equal(encrypted[:, full_width:], original[:, full_width:])


@pytest.mark.parametrize(("width", "height"), [(3, 3), (1, 50), (50, 1), (16, 16), (31, 17)])
def test_an_image_without_two_full_tiles_comes_back_unchanged(width, height):
    image = make_image("RGB", width, height, seed=1)
    assert np.array_equal(np.asarray(scramble(image, "key", 16)), np.asarray(image))


@FAST
@given(key=keys, count=st.integers(min_value=0, max_value=3000))
def test_the_permutation_is_a_single_cycle_through_all_tiles(key, count):
    order = permutation(key, count)
    assert sorted(order.tolist()) == list(range(count))
    if count >= 2:
        position, steps = 0, 0
        while True:
            position, steps = int(order[position]), steps + 1
            if position == 0:
                break
        assert steps == count


def test_the_permutation_for_a_known_key_never_changes():
    # Encrypted images in the wild must stay decryptable: this pins the derivation.
    assert permutation("upare", 12).tolist() == [2, 5, 7, 4, 9, 0, 3, 10, 1, 8, 11, 6]


def test_the_same_key_gives_the_same_bytes():
    data = encode(make_image("RGB", 40, 30, seed=3))
    assert disorder(data, "k", 8) == disorder(data, "k", 8)
    assert disorder(data, "k", 8)[0] != disorder(data, "k2", 8)[0]


def test_a_missing_key_is_generated_and_returned():
    data = encode(make_image("RGB", 40, 30, seed=3))
    encrypted, key = disorder(data, None)
    assert len(key) >= 22 and key.replace("-", "").replace("_", "").isalnum()
    assert disorder(data, None)[1] != key
    restored, _ = disorder(encrypted, key, action="decrypt")
    assert np.array_equal(decode(restored), decode(data))


def test_generated_keys_carry_at_least_128_bits():
    assert len({generate_key() for _ in range(50)}) == 50
    assert all(len(generate_key()) * 6 >= 128 for _ in range(5))


def test_defaults_are_block_16_encrypt_png():
    data = encode(make_image("RGB", 64, 64, seed=5))
    assert disorder(data, "k") == disorder(data, "k", 16, "encrypt", "png")
    assert disorder(data, "k", None, None, None) == disorder(data, "k")
    assert disorder(data, "k", "16", " Encrypt ", "PNG") == disorder(data, "k")
    assert decode(disorder(data, "k")[0]).shape == (64, 64, 3)


@pytest.mark.parametrize("block", [3, 257, 0, -16, "abc", "", "1e1", 16.0, True, "99999"])
def test_a_block_outside_4_to_256_is_refused(block):
    assert "block" in refusal(disorder, encode(make_image("L", 8, 8, 0)), "k", block)


@pytest.mark.parametrize("action", ["shuffle", "", "encrypted"])
def test_an_unknown_action_is_refused(action):
    errors = refusal(disorder, encode(make_image("L", 8, 8, 0)), "k", 16, action)
    assert "action" in errors


@pytest.mark.parametrize("fmt", ["jpg", "jpeg", "JPG", "webp", "gif"])
def test_a_lossy_output_type_is_refused(fmt):
    errors = refusal(disorder, encode(make_image("L", 8, 8, 0)), "k", 16, "encrypt", fmt)
    assert "lossy" in errors["type"]


@pytest.mark.parametrize("fmt", ["tiff", "", "png;bmp"])
def test_an_unknown_output_type_is_refused(fmt):
    errors = refusal(disorder, encode(make_image("L", 8, 8, 0)), "k", 16, "encrypt", fmt)
    assert errors == {"type": "must be png or bmp"}


@pytest.mark.parametrize("key", ["", "k" * 257])
def test_an_empty_or_overlong_key_is_refused(key):
    assert "key" in refusal(disorder, encode(make_image("L", 8, 8, 0)), key)


def test_decrypting_without_a_key_is_refused():
    errors = refusal(disorder, encode(make_image("L", 8, 8, 0)), None, 16, "decrypt")
    assert errors == {"key": "is required to decrypt"}


def test_bmp_output_of_a_transparent_image_is_refused():
    data = encode(make_image("RGBA", 16, 16, seed=2))
    assert "transparency" in refusal(disorder, data, "k", 4, "encrypt", "bmp")["type"]


def test_bmp_output_of_an_opaque_alpha_image_drops_the_alpha():
    image = make_image("LA", 16, 16, seed=2)
    image.putalpha(255)
    encrypted, _ = disorder(encode(image), "k", 4, "encrypt", "bmp")
    restored, _ = disorder(encrypted, "k", 4, "decrypt", "png")
    assert np.array_equal(decode(restored), np.asarray(image)[..., 0])


def test_a_sixteen_bit_greyscale_png_keeps_its_high_byte():
    wide = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16
    encrypted, key = disorder(encode(Image.fromarray(wide)), None, 8)
    restored, _ = disorder(encrypted, key, 8, "decrypt")
    assert np.array_equal(decode(restored), (wide >> 8).astype(np.uint8))


def test_a_cmyk_jpeg_is_scrambled_as_rgb():
    buffer = io.BytesIO()
    make_image("RGB", 32, 32, seed=4).convert("CMYK").save(buffer, "JPEG")
    encrypted, key = disorder(buffer.getvalue(), None, 8)
    restored, _ = disorder(encrypted, key, 8, "decrypt")
    with Image.open(io.BytesIO(buffer.getvalue())) as jpeg:
        assert np.array_equal(decode(restored), np.asarray(jpeg.convert("RGB")))


def bad_uploads() -> list[object]:
    """Return a pytest case (upload, expected reason) for every refused kind of upload."""
    png = encode(make_image("RGB", 64, 64, seed=9))
    return [
        pytest.param(b"", "is empty", id="empty"),
        pytest.param(b"hello", "must be a PNG, JPEG, GIF, BMP or WebP image", id="not-an-image"),
        pytest.param(png[: len(png) // 2], "is truncated or corrupt", id="truncated-png"),
        pytest.param(
            b"\x89PNG" + bytes(5 * 1024 * 1024), "must be at most 5242880 bytes", id="too-big"
        ),
        pytest.param(
            encode(Image.new("L", (4097, 1))), "must be at most 4096x4096 pixels", id="too-wide"
        ),
    ]


@pytest.mark.parametrize(("data", "reason"), bad_uploads())
def test_an_unacceptable_upload_is_refused_with_the_reason(data, reason):
    assert refusal(disorder, data, "k") == {"image": reason}


@pytest.mark.parametrize("side", [40, 50])  # over MAX_IMAGE_PIXELS (a warning), over twice it
def test_a_decompression_bomb_is_refused(monkeypatch, side):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    data = encode(make_image("L", side, side, seed=1))
    assert refusal(disorder, data, "k") == {"image": "must be at most 4096x4096 pixels"}


def test_scramble_pixels_accepts_any_array_layout():
    pixels = np.asarray(make_image("RGB", 48, 40, seed=6))
    flipped = pixels[::-1, ::2]  # neither C-contiguous nor the original strides
    encrypted = scramble_pixels(flipped, "k", 4)
    assert np.array_equal(scramble_pixels(encrypted, "k", 4, decrypt=True), flipped)
    assert not np.array_equal(encrypted, flipped)
