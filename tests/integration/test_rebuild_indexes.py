"""A fresh generation loads without its secondary indexes (PostgreSQL) and builds them before
anything but a COPY needs them, and before its switch: it goes live with every index."""

from __future__ import annotations

import os

import pytest

from commands.users import load_user
from domain.users import User
from projections import catalog, copier
from projections.base import Projection, handles
from projections.database import Transaction
from projections.events import EventRecord
from projections.rebuild import RebuildError, rebuild
from projections.recommendations import RecommendationsProjection
from projections.users import UsersProjection
from tests.integration.feeds import project
from tests.integration.test_rebuild import from_scratch, live_rows, save_users
from tests.integration.test_rebuild_bulk import history

UNINDEXABLE = os.urandom(6000).hex()  # past a btree entry's 2,704 bytes, even compressed


def indexes(container, table: str) -> list[str]:
    """Return a table's index definitions, its name taken out of them."""
    rows = container.db.fetchall(
        "SELECT indexdef FROM pg_indexes WHERE tablename = ? ORDER BY indexdef", (table,)
    )
    return [row[0].replace(table, "T") for row in rows]


def constraints(container, table: str) -> list[tuple[str, str]]:
    """Return a table's constraints: their kinds and definitions."""
    return container.db.fetchall(
        "SELECT contype, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = ?::regclass ORDER BY contype, 2",
        (table,),
    )


# SQLite keeps a generation's indexes through its load: these run on PostgreSQL alone
pytestmark = pytest.mark.parametrize("settings", ["postgres"], indirect=True)


def test_a_generation_loaded_by_copy_alone_goes_live_with_every_index(container, monkeypatch):
    save_users(container.app, 10001, 30)
    project(container)
    monkeypatch.setattr(copier, "PAGE", 7)

    done = rebuild(container.log, container.db, UsersProjection, verify=True, keep=True)

    assert done.comparison is not None and done.comparison.matches
    first, second = UsersProjection(1).table("profiles"), UsersProjection(2).table("profiles")
    assert len(indexes(container, second)) == 4  # the primary key and three indexes
    assert indexes(container, second) == indexes(container, first)


class Peeking(Projection):
    """Inserts a row a registration; a rename updates it, first counting its table's indexes."""

    name = "peeking"
    tables = {"seen": "uid BIGINT PRIMARY KEY, user_id TEXT NOT NULL, events INTEGER NOT NULL"}
    indexes = {"seen": ["user_id"]}
    counted: list[int] = []

    @handles(User.Registered)
    def registered(self, tx: Transaction, event: EventRecord) -> None:
        tx.execute(
            f"INSERT INTO {self.table('seen')} (uid, user_id, events) VALUES (?, ?, 1)",
            (event.data["uid"], event.originator_id),
        )

    @handles(User.NicknameChanged)
    def renamed(self, tx: Transaction, event: EventRecord) -> None:
        row = tx.fetchone(
            "SELECT count(*) FROM pg_indexes WHERE tablename = ?", (self.table("seen"),)
        )
        assert row is not None
        Peeking.counted.append(int(row[0]))
        tx.execute(
            f"UPDATE {self.table('seen')} SET events = events + 1 WHERE user_id = ?",
            (event.originator_id,),
        )


def test_the_first_page_that_reads_or_updates_finds_the_indexes_built(container, monkeypatch):
    catalog.install(container.db, [Peeking], container.log.head())
    save_users(container.app, 10001, 20)
    user = load_user(container.app, 10005)
    user.change_nickname("later")
    container.app.record(user)
    monkeypatch.setattr(copier, "PAGE", 3)  # pages of COPY alone first
    Peeking.counted = []

    rebuild(container.log, container.db, Peeking)

    assert Peeking.counted == [2]  # the primary key and the index on user_id
    assert live_rows(container, Peeking, "seen") == from_scratch(container, Peeking, "seen")


class Unindexable(Projection):
    """Keeps each user's name in an indexed column; one name is too long for the index."""

    name = "unindexable"
    tables = {"names": "uid BIGINT PRIMARY KEY, name TEXT NOT NULL"}
    indexes = {"names": ["name"]}

    @handles(User.Registered)
    def registered(self, tx: Transaction, event: EventRecord) -> None:
        uid = event.data["uid"]
        tx.execute(
            f"INSERT INTO {self.table('names')} (uid, name) VALUES (?, ?)",
            (uid, UNINDEXABLE if uid == 10003 else event.data["username"]),
        )


def test_a_rebuild_whose_index_cannot_be_built_fails_and_does_not_switch(container):
    catalog.install(container.db, [Unindexable], container.log.head())
    save_users(container.app, 10001, 5)

    with pytest.raises(RebuildError, match="could not build its index"):
        rebuild(container.log, container.db, Unindexable)

    with container.db.transaction(write=False) as tx:
        assert catalog.live_generation(tx, Unindexable.name) == 1


def test_a_table_derived_in_parts_side_by_side_goes_live_with_its_keys(container):
    """Recommendations' counts are inserted in parts, each on a connection of its own, after
    their keys were dropped: the new generation has the live one's rows and keys."""
    history(container)
    project(container)

    done = rebuild(container.log, container.db, RecommendationsProjection, keep=True)

    assert done.generation == 2
    first, second = (RecommendationsProjection(n).table("mutual") for n in (1, 2))
    assert indexes(container, second) == indexes(container, first)
    assert len(indexes(container, second)) == 2  # the primary key, (high)
    assert constraints(container, second) == [("p", "PRIMARY KEY (low, high)")]
    rows = live_rows(container, RecommendationsProjection, "mutual")
    assert rows and sorted(rows) == sorted(
        from_scratch(container, RecommendationsProjection, "mutual")
    )
