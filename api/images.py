"""Image tools (CONTRACT section 9): picture encryption."""

from __future__ import annotations

import falcon

from api.params import Params
from api.resource import Param, Resource
from domain.disorder import disorder

PNG_SIGNATURE = b"\x89PNG"


class Disorder(Resource):
    path = "/api/image/disorder"
    summary = "Scramble (or restore) an image's tiles with a keyed permutation; answer the image"
    params = (
        Param("image", "file", required=True, description="PNG, JPEG, GIF, BMP or WebP, <= 5 MiB"),
        Param("key", description="the secret; generated and sent in X-Disorder-Key when absent"),
        Param("block", "integer", description="pixels per tile, 4-256, default 16"),
        Param("action", description="encrypt (default) or decrypt"),
        Param("type", description="png (default) or bmp: lossless only"),
    )
    get_too = True
    produces = "image/png"

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = Params(req)
        upload = params.upload("image", required=True)
        assert upload is not None
        image, key = disorder(
            upload.data,
            params.text("key"),
            block=params.text("block", default="16"),
            action=params.text("action", default="encrypt"),
            fmt=params.text("type", default="png"),
        )
        resp.content_type = "image/png" if image.startswith(PNG_SIGNATURE) else "image/bmp"
        resp.set_header("X-Disorder-Key", key)
        resp.set_header("Cache-Control", "no-store")
        resp.data = image
