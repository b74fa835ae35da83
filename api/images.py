"""Image tools (CONTRACT section 9): picture encryption."""

from __future__ import annotations

import falcon

from api.params import Param
from api.resource import Resource
from domain.disorder import (
    ACTIONS,
    DEFAULT_BLOCK,
    FORMATS,
    MAX_BLOCK,
    MAX_KEY_LENGTH,
    MIN_BLOCK,
    disorder,
)

PNG_SIGNATURE = b"\x89PNG"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/bmp", "image/webp")


class Disorder(Resource):
    path = "/api/image/disorder"
    summary = "Scramble (or restore) an image's tiles with a keyed permutation; answer the image"
    params = (
        Param(
            "image",
            "file",
            required=True,
            choices=IMAGE_TYPES,
            description="PNG, JPEG, GIF, BMP or WebP (read by content), <= 5 MiB",
        ),
        Param(
            "key",
            min_length=1,
            max_length=MAX_KEY_LENGTH,
            required_if=("action", "decrypt"),
            description="the secret; needed to decrypt; generated and sent in X-Disorder-Key"
            " when absent",
        ),
        Param(
            "block",
            "integer",
            default=DEFAULT_BLOCK,
            minimum=MIN_BLOCK,
            maximum=MAX_BLOCK,
            description="pixels per tile",
        ),
        Param("action", choices=ACTIONS, default="encrypt"),
        Param("type", choices=FORMATS, default="png", description="lossless formats only"),
    )
    get_too = True
    produces = ("image/png", "image/bmp")
    headers = {"X-Disorder-Key": "the generated key, when none was sent"}

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = req.context.params
        image, key = disorder(
            params["image"].data,
            params["key"],
            block=params["block"],
            action=params["action"],
            fmt=params["type"],
        )
        resp.content_type = "image/png" if image.startswith(PNG_SIGNATURE) else "image/bmp"
        if params["key"] is None:  # a sent key may not even be a valid header value
            resp.set_header("X-Disorder-Key", key)
        resp.set_header("Cache-Control", "no-store")
        resp.data = image
