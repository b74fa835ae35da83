"""Batched writes (a rebuild's fast path) behave like the same statements sent one by one."""

from __future__ import annotations

import pytest

from projections.batched import Batched


@pytest.fixture
def db(container):
    with container.db.transaction() as tx:
        tx.execute("CREATE TABLE t (k BIGINT PRIMARY KEY, v TEXT NOT NULL)")
    return container.db


def rows(db) -> list[tuple]:
    return db.fetchall("SELECT k, v FROM t ORDER BY k")


def test_a_run_of_one_row_inserts_lands_as_if_sent_one_by_one(db):
    with db.transaction() as tx:
        batched = Batched(tx)
        for k, v in [(1, "a"), (2, "b"), (1, "again"), (3, "c")]:
            batched.execute("INSERT INTO t (k, v) VALUES (?, ?) ON CONFLICT (k) DO NOTHING", (k, v))
        batched.flush()
    assert rows(db) == [(1, "a"), (2, "b"), (3, "c")]


def test_statements_keep_their_order_around_reads_and_other_statements(db):
    with db.transaction() as tx:
        batched = Batched(tx)
        batched.execute("INSERT INTO t (k, v) VALUES (?, ?)", (1, "a"))
        batched.execute("INSERT INTO t (k, v) VALUES (?, ?)", (2, "b"))
        batched.execute("UPDATE t SET v = ? WHERE k = ?", ("B", 2))
        assert batched.fetchone("SELECT count(*) FROM t") == (2,)
        batched.execute("INSERT INTO t (k, v) VALUES (?, ?)", (3, "c"))
        batched.executemany(
            "INSERT INTO t (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
            [(3, "C"), (4, "D")],
        )
        batched.flush()
    assert rows(db) == [(1, "a"), (2, "B"), (3, "C"), (4, "D")]


def test_a_failing_row_fails_when_its_run_is_sent(db):
    with pytest.raises(Exception), db.transaction() as tx:  # noqa: B017 (the driver's own error)
        batched = Batched(tx)
        batched.execute("INSERT INTO t (k, v) VALUES (?, ?)", (1, "a"))
        batched.execute("INSERT INTO t (k, v) VALUES (?, ?)", (1, "twice"))
        batched.flush()
    assert rows(db) == []


def test_a_long_run_of_rows_lands_whole(db):
    with db.transaction() as tx:
        batched = Batched(tx)
        for k in range(20000):
            batched.execute("INSERT INTO t (k, v) VALUES (?, ?)", (k, str(k)))
        batched.flush()
    assert db.fetchone("SELECT count(*), sum(k) FROM t") == (20000, sum(range(20000)))


def test_a_column_with_one_value_lands_in_every_row_and_upserts_still_update(db):
    upsert = "INSERT INTO t (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v"
    with db.transaction() as tx:
        tx.execute_rows(upsert, [(k, "same") for k in range(4)])  # v: one value in all rows
        tx.execute_rows(upsert, [(2, "new"), (3, "new"), (5, "new")])  # updates and inserts
    assert rows(db) == [(0, "same"), (1, "same"), (2, "new"), (3, "new"), (5, "new")]
