"""Captchas: their images, and their answers as the cache holds them: bound to (session,
scenario), 5 minutes, single use.

Images are drawn by the `captcha` library (on Pillow). `captcha:<session identity>:<scenario>`
holds the SHA-256 of the answer in lower case (answers are case-insensitive), never the answer.
Any verification takes the key (GETDEL), right or wrong, so an answer is tried once;
`captchaVerify` with `flush=no` only reads it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from captcha.image import ImageCaptcha

from upare.cache import Cache

TTL_SECONDS = 5 * 60
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: readable in a distorted image
LENGTH = 5
TEST_ANSWER = "PASSED"  # always passes in test mode (UPARE_CAPTCHA_TEST_MODE, CONTRACT 4)
FORMATS = {"png": "PNG", "jpg": "JPEG", "bmp": "BMP"}  # the `type` asked for: Pillow's format
IMAGES = ImageCaptcha()  # loads its fonts once; it keeps nothing of one image for the next


def _key(session: str, scenario: str) -> str:
    return f"captcha:{session}:{scenario}"


def _digest(answer: str) -> bytes:
    return hashlib.sha256(answer.strip().lower().encode()).hexdigest().encode()


def new_answer() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def draw(answer: str, fmt: str = "png") -> bytes:
    """Return the distorted image of this answer, encoded in one of FORMATS."""
    return IMAGES.generate(answer, format=FORMATS[fmt]).getvalue()


def remember(cache: Cache, session: str, scenario: str, answer: str) -> None:
    """Keep the answer of the captcha just drawn for this session and scenario."""
    cache.set(_key(session, scenario), _digest(answer), TTL_SECONDS)


def verify(
    cache: Cache,
    session: str | None,
    scenario: str,
    answer: str | None,
    *,
    flush: bool = True,
    test_mode: bool = False,
) -> bool:
    """Tell whether `answer` is the captcha's; unless not to `flush`, it is used up either way."""
    if test_mode and answer == TEST_ANSWER:
        return True
    if session is None:
        return False
    key = _key(session, scenario)
    expected = cache.take(key) if flush else cache.get(key)
    if not answer or expected is None:
        return False
    return hmac.compare_digest(expected, _digest(answer))
