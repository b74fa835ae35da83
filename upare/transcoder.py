"""The event store's JSON, read by orjson: eventsourcing's `JSONTranscoder` format, decoded
several times faster.

Stored states keep eventsourcing's format exactly: written by its `JSONTranscoder` (the stdlib
encoder, `{"_type_": name, "_data_": ...}` for a UUID, a datetime, a Decimal ...), so rows old
and new read alike and any eventsourcing reader reads ours. Only reading changes: orjson parses,
then one walk revives the typed values through the registered transcodings, innermost first, as
the stdlib decoder's object hook does. What orjson reads differently from the stdlib goes to the
stdlib decoder, so every value reads back exactly as written: NaN and Infinity (which the stdlib
writes for such floats; orjson refuses them) and integers past 64 bits (which orjson reads as
floats: a whole float that large sends the document to the stdlib).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder

Hook = Callable[[dict[str, Any]], Any]
WALKED = frozenset((dict, list, float))
BIG = float(2**63)  # a whole float from here on may have been an integer orjson rounded


class Inexact(Exception):
    """orjson read a number as a float that the stdlib reads as an exact integer."""


def loads(data: bytes, hook: Hook | None = None) -> Any:
    """Parse JSON exactly as the stdlib does (with `hook` as its object hook), by orjson
    wherever it reads the same."""
    try:
        return _walk(orjson.loads(data), hook)
    except (orjson.JSONDecodeError, Inexact):
        return json.loads(data.decode("utf8"), object_hook=hook)


def _walk(value: Any, hook: Hook | None) -> Any:
    """Apply `hook` to every dict of a parsed value, innermost first; raise `Inexact` at a
    number orjson may have rounded."""
    kind = type(value)
    if kind is dict:
        for name, item in value.items():
            if type(item) in WALKED:  # strings, integers and the like need nothing
                value[name] = _walk(item, hook)
        return value if hook is None else hook(value)
    if kind is list:
        for index, item in enumerate(value):
            if type(item) in WALKED:
                value[index] = _walk(item, hook)
    elif kind is float and abs(value) >= BIG and value.is_integer():
        raise Inexact
    return value


class Transcoder(JSONTranscoder):
    """eventsourcing's JSON transcoder, decoding with orjson (`loads`) and its transcodings."""

    def decode(self, data: bytes) -> Any:
        return loads(data, self._decode_obj)
