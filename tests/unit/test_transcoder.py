"""States written by eventsourcing's stock JSONTranscoder read back exactly by ours (orjson),
including what orjson alone reads differently: NaN and Infinity, integers past 64 bits."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)

from upare.transcoder import Transcoder, loads


def transcoders() -> tuple[JSONTranscoder, Transcoder]:
    stock, ours = JSONTranscoder(), Transcoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        stock.register(transcoding)
        ours.register(transcoding)
    return stock, ours


def test_a_stock_row_reads_the_same_typed_values_nested_anywhere():
    stock, ours = transcoders()
    state = {
        "timestamp": datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        "person": uuid4(),
        "amount": Decimal("12.50"),
        "friends": [uuid4(), {"since": datetime(2025, 1, 1, tzinfo=UTC), "n": [1, 2.5]}],
        "sealed": "bm9uY2U=",
        "details": {"city": "Zürich", "_type_": "mine"},  # not a transcoded value: kept
        "nothing": None,
    }
    written = stock.encode(state)

    assert ours.decode(written) == stock.decode(written) == state
    assert ours.encode(state) == written  # writing is the stock encoder's, unchanged


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1, 10**30, 1e19, float("inf"), -float("inf")])
def test_numbers_orjson_reads_differently_read_as_the_stdlib_wrote_them(value):
    stock, ours = transcoders()
    written = stock.encode({"v": value, "at": datetime(2026, 1, 1, tzinfo=UTC)})

    read = ours.decode(written)["v"]

    assert read == value and type(read) is type(value)


def test_nan_reads_back_and_an_unknown_type_fails_as_in_eventsourcing():
    stock, ours = transcoders()
    assert math.isnan(ours.decode(stock.encode({"v": float("nan")}))["v"])
    with pytest.raises(TranscodingNotRegisteredError):
        ours.decode(b'{"v":{"_type_":"gone","_data_":1}}')


def test_plain_json_keeps_typed_looking_dicts_as_they_are():
    assert loads(b'{"d":{"_type_":"uuid_hex","_data_":"x"}}') == {
        "d": {"_type_": "uuid_hex", "_data_": "x"}
    }
