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


@pytest.mark.parametrize(
    "more",
    [
        lambda batched: batched.fetchone("SELECT count(*) FROM t"),
        lambda batched: batched.execute("UPDATE t SET v = ? WHERE k = ?", ("A", 1)),
        lambda batched: batched.execute(
            "INSERT INTO t (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
            (1, "A"),
        ),
    ],
    ids=["read", "update", "upsert"],
)
def test_before_more_runs_once_after_the_inserts_that_copy_before_anything_else(db, more):
    """What COPY sends does not call it; the first other statement or read does, once, with
    the inserts before it sent already."""
    seen: list[list[tuple]] = []
    with db.transaction() as tx:
        batched = Batched(
            tx, copy=True, before_more=lambda: seen.append(tx.fetchall("SELECT k, v FROM t"))
        )
        for k in (1, 2):
            batched.execute("INSERT INTO t (k, v) VALUES (?, ?)", (k, str(k)))
        batched.execute("INSERT INTO t (k, v) VALUES (?, ?) ON CONFLICT (k) DO NOTHING", (3, "3"))
        batched.flush()
        assert seen == []
        more(batched)
        batched.flush()
        more(batched)  # again: no second call
        batched.flush()
    assert seen == [[(1, "1"), (2, "2"), (3, "3")]]


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


@pytest.mark.parametrize("joins", ["any", "nested loops"])
def test_a_run_of_updates_ends_as_if_sent_one_by_one_the_later_update_of_a_row_winning(db, joins):
    with db.transaction() as tx:
        tx.execute_rows("INSERT INTO t (k, v) VALUES (?, ?)", [(k, "old") for k in range(100)])
    updates = [(f"{k}:{n}", k) for n in range(3) for k in range(0, 100, 2)]  # 3 times each
    updates += [("only", 1), ("nowhere", 1000), ("last", 3), ("late", 1)]
    with db.transaction() as tx:
        if db.dialect == "postgres" and joins == "nested loops":  # the plan in which an
            tx.execute("SET LOCAL enable_hashjoin = off")  # UPDATE ... FROM with several
            tx.execute("SET LOCAL enable_mergejoin = off")  # matches keeps the first
        batched = Batched(tx)
        for update in updates:
            batched.execute("UPDATE t SET v = ? WHERE k = ?", update)
        batched.flush()
        if db.dialect == "postgres":  # one row version written per row, not per update
            written = tx.fetchone(
                "SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 't'"
            )
            assert written == (52,)
    expected = {k: f"{k}:2" if k % 2 == 0 else "old" for k in range(100)}
    assert dict(rows(db)) == expected | {1: "late", 3: "last"}


def test_a_run_of_updates_sets_each_column_and_matches_every_condition(db):
    with db.transaction() as tx:
        tx.execute("CREATE TABLE w (a BIGINT, b TEXT, n INTEGER, note TEXT)")
        tx.execute_rows(
            "INSERT INTO w (a, b, n, note) VALUES (?, ?, ?, ?)",
            [(a, b, None, None) for a in (1, 2) for b in ("x", "y")],
        )
    with db.transaction() as tx:
        tx.execute_rows(
            "UPDATE w SET n = ?, note = ? WHERE a = ? AND b = ?",
            [(1, None, 1, "x"), (0, "failed", 2, "y"), (1, None, 2, "x")],
        )
    assert db.fetchall("SELECT a, b, n, note FROM w ORDER BY a, b") == [
        (1, "x", 1, None),
        (1, "y", None, None),
        (2, "x", 1, None),
        (2, "y", 0, "failed"),
    ]
