"""The watermark: every event at or below it is applied, on the store feed and over Kafka."""

from __future__ import annotations

import pytest

from projections import catalog
from projections.users import UsersProjection
from projections.watermark import watermark
from upare.bootstrap import Container

LIVE = UsersProjection(1)


def relay(container: Container, position: int, end_offsets: list[int]) -> None:
    """Record what the relay would after Kafka acknowledged up to `position`."""
    with container.db.transaction() as tx:
        tx.executemany(
            "INSERT INTO relay_position (feed, topic, position, end_offset) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (feed) DO UPDATE SET position = excluded.position,"
            " end_offset = excluded.end_offset",
            [(feed, "upare.events", position, end) for feed, end in enumerate(end_offsets)],
        )


def projector(container: Container, feed: int, next_offset: int, position: int | None) -> None:
    """Record what the projector would after applying a partition up to `next_offset`."""
    with container.db.transaction() as tx:
        if position is not None:
            catalog.set_position(tx, LIVE, position, feed=feed)
        tx.execute(
            "INSERT INTO projection_offsets (projection, generation, feed, next_offset)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (projection, generation, feed)"
            " DO UPDATE SET next_offset = excluded.next_offset",
            ("users", 1, feed, next_offset),
        )


def store_feed(container: Container, position: int, projection=LIVE) -> None:
    with container.db.transaction() as tx:
        catalog.set_position(tx, projection, position)


def test_on_the_store_feed_it_is_the_position_on_the_store_log(container):
    assert watermark(container.db, "users") == 0
    store_feed(container, 42)
    assert watermark(container.db, "users") == 42


def test_an_unknown_projection_has_seen_nothing(container):
    assert watermark(container.db, "nope") == 0


def test_over_kafka_it_is_the_relay_position_when_every_partition_is_caught_up(container):
    relay(container, 500, [10, 0, 7])
    projector(container, 0, 10, 480)
    projector(container, 2, 7, 499)  # partition 1 never had an event: nothing to catch up
    assert watermark(container.db, "users") == 500


def test_over_kafka_it_is_the_smallest_last_position_among_partitions_with_a_backlog(container):
    relay(container, 500, [10, 20, 30])
    projector(container, 0, 10, 300)  # caught up: bound 500
    projector(container, 1, 15, 250)  # backlog: bound 250
    projector(container, 2, 29, 490)  # backlog: bound 490
    assert watermark(container.db, "users") == 250


def test_over_kafka_a_partition_no_projector_has_read_holds_it_at_zero(container):
    relay(container, 500, [10, 20])
    projector(container, 0, 10, 300)
    assert watermark(container.db, "users") == 0


def test_a_generation_built_from_the_store_counts_from_its_store_position(container):
    relay(container, 500, [10, 20])
    store_feed(container, 400)  # a rebuild's switch recorded it; Kafka continues from there
    assert watermark(container.db, "users") == 400
    projector(container, 0, 12, 450)  # more than the relay's snapshot: caught up, bound 500
    projector(container, 1, 18, 420)
    assert watermark(container.db, "users") == 420
    projector(container, 1, 20, 500)
    assert watermark(container.db, "users") == 500


def test_only_the_live_generation_counts(container):
    relay(container, 500, [10])
    projector(container, 0, 10, 500)
    with container.db.transaction() as tx:
        catalog.create_tables(tx, UsersProjection(2))
        catalog.point_views(tx, UsersProjection(2))
    assert watermark(container.db, "users") == 0
    store_feed(container, 123, UsersProjection(2))
    assert watermark(container.db, "users") == 123


@pytest.mark.parametrize("backlog", [True, False])
def test_it_can_be_read_inside_a_transaction(container, backlog):
    relay(container, 500, [10])
    projector(container, 0, 9 if backlog else 10, 480)
    with container.db.transaction() as tx:
        assert watermark(tx, "users") == (480 if backlog else 500)
