"""The Falcon application factory."""

from __future__ import annotations

from typing import Any

import falcon
from falcon.media.multipart import MultipartFormHandler

from api import (
    authorize,
    avatars,
    calendar,
    captchas,
    codes,
    discovery,
    envelope,
    errors,
    friends,
    health,
    images,
    inbox,
    metrics,
    profiles,
    sessions,
    sns,
    tokens,
    users,
)
from api.callers import Callers
from api.freshness import ReadYourWrites
from api.middleware import BodyLimit, RequestContext
from api.openapi import OpenApi
from api.params import Parameters
from api.resource import Resource
from upare.bootstrap import Container

RESOURCES: list[type[Resource]] = [
    users.Register,
    users.ValidateUniqueUsername,
    users.ValidateUniqueEmail,
    users.Info,
    profiles.ModifyBasicInfo,
    profiles.ModifyDetailInfo,
    sns.SnsRegister,
    sns.Unbind,
    inbox.Messages,
    codes.SendCode,
    codes.ValidateCommunicationCode,
    images.Disorder,
    avatars.SetAvatar,
    avatars.Avatar,
    captchas.Captcha,
    captchas.CaptchaVerify,
    sessions.Login,
    sessions.Logout,
    tokens.AccessToken,
    tokens.Delete,
    tokens.Revoke,
    authorize.Authorize,
    calendar.AddEvent,
    calendar.UpdateEvent,
    calendar.DeleteEvent,
    calendar.Events,
    friends.Friends,
    friends.FriendMake,
    friends.FriendDel,
    friends.FriendsRecommend,
]


def create_app(container: Container) -> falcon.App:
    """Build the WSGI application wired with this container."""
    middleware: list[Any] = [
        metrics.RequestMetrics(),
        RequestContext(),
        BodyLimit(container.settings.max_body_bytes),
        Parameters(),
        Callers(container.caller_reads, container.token_rates),
        ReadYourWrites(container),
        tokens.TokenResponses(),
    ]
    app = falcon.App(middleware=middleware)
    multipart = MultipartFormHandler()
    multipart.parse_options.max_body_part_buffer_size = container.settings.max_body_bytes
    app.req_options.media_handlers[falcon.MEDIA_MULTIPART] = multipart
    app.req_options.auto_parse_qs_csv = False
    app.resp_options.default_media_type = falcon.MEDIA_JSON
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = envelope.JSON
    errors.register(app)
    for resource in RESOURCES:
        app.add_route(resource.path, resource(container))
    app.add_route("/healthz", health.Healthz())
    app.add_route("/readyz", health.Readyz(container))
    app.add_route("/metrics", metrics.Metrics(container))
    app.add_route(discovery.PATH, discovery.Metadata(container))
    app.add_route(
        "/openapi.json",
        OpenApi(RESOURCES, {**health.OPENAPI, **metrics.OPENAPI, **discovery.OPENAPI}),
    )
    return app
