"""Request parameters: one declaration (`Param`) parses, validates and documents each of them.

Values come from the query string and the body (form, multipart or JSON); body values win over
query values of the same name (CONTRACT section 1). Query, form and multipart values are text
read as the declared type; JSON values must already have it (a JSON string is no integer).
The `Parameters` middleware parses every parameter a resource declares, once, into
`req.context.params`, before the responder runs; nothing else reads raw parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import falcon

from domain.calendar import iso
from domain.errors import UpareError, invalid

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INTEGER = re.compile(r"-?[0-9]+")
JSON_TYPES: dict[str, type] = {"string": str, "integer": int, "boolean": bool}
# a "date-time": ISO 8601 with an offset, to the minute or finer, of a real day of the years
# 1000-9998 (so that no offset can carry it out of Python's); or Unix seconds
YEAR = r"(?:[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"
LEAP_YEAR = r"(?:[1-9][0-9](?:0[48]|[2468][048]|[13579][26])|(?:[2468][048]|[13579][26])00)"
DATE = (
    rf"(?:{YEAR}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    rf"|{LEAP_YEAR}-02-29)"
)
LOCAL_TIME = DATE + r"T(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?"
TIME = LOCAL_TIME + r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
FIRST_SECOND, LAST_SECOND = -30610224000, 253370764799  # 1000-01-01, 9998-12-31T23:59:59 UTC


@dataclass(frozen=True)
class Upload:
    """A file sent in a multipart body."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Param:
    """One request parameter: its type, its rules, and the code for a missing or empty value.

    `missing` is answered when a required value is absent or empty: its own code where the
    document gives one (e.g. 201101), else 100004 with `errors`, collected over all
    parameters. An absent optional value reads as `default`; one sent empty is read like any
    other (so `block=` is refused), or answers `empty` where that code is declared.
    The `choices` of a file are the media types it may be (documented; read by content).
    A `date-time` reads as `domain.calendar.iso` text (UTC, to the second); sent empty, and
    allowed to be (not required, no `min_length`), it reads as "" (no time).
    """

    name: str
    type: str = "string"  # string, integer, boolean, date-time, file
    required: bool = False
    description: str = ""
    missing: int = 100004
    empty: int | None = None
    default: Any = None
    choices: tuple[str, ...] = ()
    minimum: int = INT64_MIN
    maximum: int = INT64_MAX
    min_length: int = 0
    max_length: int | None = None
    pattern: str | None = None  # the whole value matches it
    required_if: tuple[str, str] | None = None  # (another parameter, its value)
    body_only: bool = False  # read from the body alone (a password does not belong in a URL)

    def read(self, value: Any, typed: bool) -> Any:
        """Return the value as the declared type, or raise ValueError saying what is wrong."""
        if isinstance(value, list) and not typed:  # a repeated query parameter: the last wins
            value = value[-1]
        if self.type == "file":
            if not isinstance(value, Upload):
                raise ValueError("must be a file")
            return value
        if self.type == "date-time":
            return self._time(value, typed)
        if typed:
            if self.type == "integer" and isinstance(value, float) and value.is_integer():
                value = int(value)  # JSON Schema: 5.0 is an integer
            if type(value) is not JSON_TYPES[self.type]:
                raise ValueError(f"must be a JSON {self.type}")
        elif not isinstance(value, str):
            raise ValueError("must be text, not a file")
        if self.type == "integer":
            return self._integer(value)
        if self.type == "boolean":
            return self._boolean(value)
        return self._string(str(value))

    def _integer(self, value: str | int) -> int:
        if isinstance(value, str):
            if not INTEGER.fullmatch(value):
                raise ValueError("must be an integer")
            value = int(value)
        if not self.minimum <= value <= self.maximum:
            raise ValueError(f"must be between {self.minimum} and {self.maximum}")
        return value

    def _time(self, value: Any, typed: bool) -> str:
        """Read ISO 8601 text with an offset, or Unix seconds (a JSON number, or digits as text)."""
        if typed and isinstance(value, float) and value.is_integer():
            value = int(value)
        digits = not typed and isinstance(value, str) and INTEGER.fullmatch(value)
        if type(value) is int or digits:
            if not FIRST_SECOND <= int(value) <= LAST_SECOND:
                raise ValueError(f"must be Unix seconds from {FIRST_SECOND} to {LAST_SECOND}")
            return iso(datetime.fromtimestamp(int(value), UTC))
        if not isinstance(value, str):
            raise ValueError("must be ISO 8601 text or Unix seconds")
        if value == "" and not self.min_length:
            return ""
        if re.fullmatch(LOCAL_TIME, value):
            raise ValueError("needs its offset (Z or +hh:mm), e.g. 2026-12-01T09:30:00+08:00")
        if not re.fullmatch(TIME, value):
            raise ValueError(
                "must be ISO 8601 with an offset (2026-12-01T09:30:00Z), or Unix seconds"
            )
        try:
            return iso(datetime.fromisoformat(value))
        except (ValueError, OverflowError):
            raise ValueError("is no such time") from None

    def _boolean(self, value: str | bool) -> bool:
        if isinstance(value, bool):
            return value
        word = value.lower()
        if word not in TRUE | FALSE:
            raise ValueError("must be one of 1/0/true/false/yes/no/on/off")
        return word in TRUE

    def _string(self, value: str) -> str:
        if not value.isascii():
            try:  # a JSON string may escape a lone surrogate, which is no text to store
                value.encode()
            except UnicodeEncodeError:
                raise ValueError("must be valid Unicode text") from None
        if self.choices and value not in self.choices:
            raise ValueError(f"must be one of {', '.join(self.choices)}")
        if len(value) < self.min_length:
            raise ValueError(f"must be at least {self.min_length} characters")
        if self.max_length is not None and len(value) > self.max_length:
            raise ValueError(f"must be at most {self.max_length} characters")
        if self.pattern and not re.fullmatch(self.pattern, value):
            raise ValueError(f"must match {self.pattern}")
        return value


MIN_POSITION = Param(
    "min_position",
    "integer",
    minimum=0,
    description="wait (at most 5 s) until this position is visible",
)
ACCESS_TOKEN = Param(
    "access_token",
    empty=201202,
    min_length=1,
    description="an OAuth access token, instead of `Authorization: Bearer`",
)
RESPONSE_TYPE = Param(
    "response_type",
    choices=("json", "code"),
    default="json",
    description="`json`: the envelope; `code`: the bare error_code as text/plain",
)


def _body(req: falcon.Request) -> tuple[dict[str, Any], bool]:
    """Return the body's values, and whether they are typed JSON values (not text)."""
    if not req.content_length:
        return {}, False
    media_type = (req.content_type or "").split(";")[0].strip().lower()
    if media_type == falcon.MEDIA_MULTIPART:
        values: dict[str, Any] = {}
        for part in req.get_media():
            if part.filename:
                values[part.name] = Upload(part.filename, part.content_type, part.get_data())
            else:
                values[part.name] = part.get_text()
        return values, False
    if media_type in (falcon.MEDIA_URLENCODED, falcon.MEDIA_JSON):
        media = req.get_media()
        if not isinstance(media, dict):
            raise invalid(body="must be a JSON object")
        return media, media_type == falcon.MEDIA_JSON
    return {}, False


def parse(req: falcon.Request, declared: tuple[Param, ...]) -> dict[str, Any]:
    """Read the declared parameters into `req.context.params`; refuse the bad ones.

    The values that did parse are kept even when others are refused, so that the refusal can
    honour `response_type`.
    """
    body, typed = _body(req)
    sent = {name: (value, False) for name, value in req.params.items()}
    sent.update((name, (value, typed)) for name, value in body.items())
    parsed: dict[str, Any] = {}
    errors: dict[str, str] = {}
    codes: list[int] = []
    for param in declared:
        if param.body_only and param.name not in body:
            sent.pop(param.name, None)
        value, is_typed = sent.get(param.name, (None, False))
        if value == "" and param.empty:
            codes.append(param.empty)
        elif param.name not in sent and not param.required:
            parsed[param.name] = param.default
        elif (value is None or value == "") and param.required:
            if param.missing != 100004:
                codes.append(param.missing)
            else:
                errors[param.name] = "is required"
        else:
            try:
                parsed[param.name] = param.read(value, is_typed)
            except ValueError as ex:
                errors[param.name] = str(ex)
    for param in declared:
        if param.required_if and parsed.get(param.name) is None:
            other, value = param.required_if
            if param.name not in errors and parsed.get(other) == value:
                errors[param.name] = f"is required when {other} is {value}"
    req.context.params = parsed
    if codes:
        raise UpareError(codes[0])
    if errors:
        raise invalid(**errors)
    return parsed


class Parameters:
    """Parse the parameters a resource declares before its responder runs."""

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any]
    ) -> None:
        declared = getattr(resource, "params", None)
        if declared is not None and req.context.responds:
            parse(req, declared)
