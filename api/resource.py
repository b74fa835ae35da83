"""What every resource declares, so that the frame and the OpenAPI document read one source."""

from __future__ import annotations

from typing import Any, ClassVar

import falcon

from api import envelope
from api.callers import ANYONE, Need
from api.params import ACCESS_TOKEN, MIN_POSITION, Param
from domain.errors import UpareError
from upare.bootstrap import Container

POSITION = {"type": "integer", "minimum": 1, "description": "the command's last event"}


class Resource:
    """A Falcon resource at one path; `get_too` resources answer GET as well as POST.

    - `params`: parsed (middleware api/params.py) into `req.context.params` before the
      responder; every resource also takes `access_token`, and a query `min_position`.
    - `caller`: the caller it needs (api/callers.py), resolved into `req.context.caller`.
    - `reads`: the projections a query reads; the read-your-writes middleware
      (api/freshness.py) waits for them to pass the caller's last write and `min_position`.
    - `codes`: the endpoint's own error codes; `answers`: the JSON schema of each field a
      success adds to the envelope (`optional`: those a success may leave out); `headers`: the
      headers a success carries. With the frame's own codes, they make the OpenAPI document's
      responses. `produces` may add `text/html` (pages) to JSON; `redirects` describes a 302.
    - `refuse`: how it answers a refusal (the envelope; a resource with pages may render one).
    """

    path: ClassVar[str]
    summary: ClassVar[str]
    params: ClassVar[tuple[Param, ...]] = ()
    caller: ClassVar[Need] = ANYONE
    reads: ClassVar[tuple[str, ...]] = ()
    codes: ClassVar[tuple[int, ...]] = ()
    messages: ClassVar[dict[int, str]] = {}  # the document's own wording of a code here
    answers: ClassVar[dict[str, dict[str, Any]]] = {}
    optional: ClassVar[tuple[str, ...]] = ()
    headers: ClassVar[dict[str, str]] = {}
    get_too: ClassVar[bool] = False
    produces: ClassVar[tuple[str, ...]] = (falcon.MEDIA_JSON,)
    redirects: ClassVar[str] = ""  # what a 302 answer's Location is, if it answers one

    def __init__(self, container: Container) -> None:
        self.container = container

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise NotImplementedError

    def refuse(self, req: falcon.Request, resp: falcon.Response, error: UpareError) -> None:
        """Answer a refused request (api/errors.py calls this for the resource's refusals)."""
        envelope.refuse(req, resp, error)

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        taken = (ACCESS_TOKEN, MIN_POSITION) if cls.reads else (ACCESS_TOKEN,)
        cls.params = (*cls.params, *(param for param in taken if param not in cls.params))
        if cls.get_too:
            cls.on_get = cls.on_post  # type: ignore[attr-defined]

    @classmethod
    def methods(cls) -> list[str]:
        return ["get", "post"] if cls.get_too else ["post"]
