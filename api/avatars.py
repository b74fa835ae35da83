"""Avatars (CONTRACT 9): a user uploads one; anyone fetches its sizes as images."""

from __future__ import annotations

import json
from dataclasses import replace

import falcon

from api.callers import USER
from api.envelope import respond
from api.images import IMAGE_TYPES
from api.params import RESPONSE_TYPE, Param
from api.resource import POSITION, Resource
from commands.avatars import UploadAvatar
from domain.avatars import DEFAULT_SIZE, SIZES
from domain.errors import UpareError
from queries import users
from upare.bootstrap import Container
from upare.media import Media

URLS = {
    "type": "object",
    "description": "the URL of each stored size (pixels per side)",
    "required": [str(size) for size in SIZES],
    "properties": {str(size): {"type": "string"} for size in SIZES},
}


class SetAvatar(Resource):
    path = "/api/user/setavatar"
    summary = "Make an uploaded picture the caller's avatar; answer the URL of each size"
    params = (
        Param(
            "avatar",
            "file",
            required=True,
            choices=IMAGE_TYPES,
            description="PNG, JPEG, GIF (first frame), BMP or WebP (read by content),"
            " <= 5 MiB and 4096x4096 pixels",
        ),
        RESPONSE_TYPE,
    )
    caller = USER.scope("user_info")
    codes = (202301, 202001)
    answers = {"avatar": URLS, "position": POSITION}

    def __init__(self, container: Container) -> None:
        self.bus = container.bus

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        uid = req.context.caller.user()
        picture = req.context.params["avatar"].data
        done = self.bus.execute(UploadAvatar(uid=uid, picture=picture))
        urls = users.avatar_urls(uid, json.dumps(done.fields["files"]))
        respond(req, resp, replace(done, fields={"avatar": urls}))


class Avatar(Resource):
    path = "/api/user/avatar"
    summary = "Answer a user's avatar in one size: the PNG image itself"
    params = (
        Param("uid", "integer", required=True, description="whose avatar"),
        Param(
            "size",
            choices=tuple(str(size) for size in SIZES),
            default=str(DEFAULT_SIZE),
            description="pixels per side",
        ),
    )
    reads = ("users",)
    codes = (202001, 404)  # no such user; a user without an avatar
    get_too = True
    produces = ("image/png",)
    headers = {
        "ETag": "the stored file's name: a new avatar has a new one",
        "Cache-Control": "`public, no-cache`: keep it, and ask again with If-None-Match (304)",
    }

    def __init__(self, container: Container) -> None:
        self.media = Media(container.settings.media_dir)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = req.context.params
        name = users.avatar_file(req.context.reads, params["uid"], params["size"])
        picture = None if name is None else self.media.read(name)
        if name is None or picture is None:  # (a file just replaced: the read model lags)
            raise UpareError(
                202001 if users.public_profile(req.context.reads, params["uid"]) is None else 404
            )
        resp.etag = name
        resp.cache_control = ["public", "no-cache"]
        if {name, "*"} & set(req.if_none_match or ()):
            resp.status = falcon.HTTP_NOT_MODIFIED
            return
        resp.content_type = "image/png"
        resp.data = picture
