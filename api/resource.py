"""What every resource declares, so that routing and the OpenAPI document read one source."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import falcon

from upare.bootstrap import Container


@dataclass(frozen=True)
class Param:
    """One documented request parameter."""

    name: str
    type: str = "string"  # string, integer, boolean, file
    required: bool = False
    description: str = ""


MIN_POSITION = Param(
    "min_position", "integer", description="wait (at most 5 s) until this position is visible"
)


class Resource:
    """A Falcon resource at one path; `get_too` resources answer GET as well as POST.

    A query names the projections it `reads`: before it runs, the read-your-writes
    middleware (api/freshness.py) waits for them to pass the caller's last write and
    `min_position`.
    """

    path: ClassVar[str]
    summary: ClassVar[str]
    params: ClassVar[tuple[Param, ...]] = ()
    reads: ClassVar[tuple[str, ...]] = ()
    get_too: ClassVar[bool] = False
    produces: ClassVar[str] = falcon.MEDIA_JSON

    def __init__(self, container: Container) -> None:
        self.container = container

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise NotImplementedError

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.reads and MIN_POSITION not in cls.params:  # every query takes min_position
            cls.params = (*cls.params, MIN_POSITION)
        if cls.get_too:
            cls.on_get = cls.on_post  # type: ignore[attr-defined]

    @classmethod
    def methods(cls) -> list[str]:
        return ["get", "post"] if cls.get_too else ["post"]
