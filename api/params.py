"""Request parameters from the query string and the body (form, multipart or JSON).

Body values win over query values of the same name (CONTRACT section 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import falcon

from domain.errors import invalid

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Upload:
    """A file sent in a multipart body."""

    filename: str
    content_type: str
    data: bytes


def _body(req: falcon.Request) -> dict[str, Any]:
    """Return the body's values, parsed once per request (a multipart stream reads only once)."""
    if not hasattr(req.context, "body_values"):
        req.context.body_values = _parse_body(req)
    return req.context.body_values


def _parse_body(req: falcon.Request) -> dict[str, Any]:
    if not req.content_length:
        return {}
    media_type = (req.content_type or "").split(";")[0].strip().lower()
    if media_type == falcon.MEDIA_MULTIPART:
        values: dict[str, Any] = {}
        for part in req.get_media():
            if part.filename:
                values[part.name] = Upload(part.filename, part.content_type, part.get_data())
            else:
                values[part.name] = part.get_text()
        return values
    if media_type in (falcon.MEDIA_URLENCODED, falcon.MEDIA_JSON):
        media = req.get_media()
        if not isinstance(media, dict):
            raise invalid(body="must be a JSON object")
        return media
    return {}


class Params:
    """The parameters of one request, read with the type each endpoint expects."""

    def __init__(self, req: falcon.Request) -> None:
        self.values: dict[str, Any] = {**req.params, **_body(req)}

    def _raw(self, name: str, required: bool) -> Any:
        value = self.values.get(name)
        if isinstance(value, list):  # a repeated query parameter: the last one wins
            value = value[-1]
        if value is None or value == "":
            if required:
                raise invalid(**{name: "is required"})
            return None
        return value

    def text(self, name: str, required: bool = False, default: str | None = None) -> str | None:
        value = self._raw(name, required)
        if value is None:
            return default
        if isinstance(value, Upload | dict | list):
            raise invalid(**{name: "must be a string"})
        return str(value)

    def integer(self, name: str, required: bool = False) -> int | None:
        value = self._raw(name, required)
        if value is None:
            return None
        try:
            return int(str(value).strip())
        except ValueError:
            raise invalid(**{name: "must be an integer"}) from None

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self._raw(name, False)
        if value is None:
            return default
        word = str(value).strip().lower()
        if word in TRUE:
            return True
        if word in FALSE:
            return False
        raise invalid(**{name: "must be one of 1/0/true/false/yes/no/on/off"})

    def upload(self, name: str, required: bool = False) -> Upload | None:
        value = self._raw(name, required)
        if value is not None and not isinstance(value, Upload):
            raise invalid(**{name: "must be a file"})
        return value
