"""The read models' kept answers (projections/read_cache.py): a read answers again from memory
only while no projection moved, nobody stopped listening, and it is young enough."""

from __future__ import annotations

import pytest

from projections.read_cache import ReadCache

SQL = "SELECT nickname FROM profiles WHERE uid = ?"


class Wakeup:
    """A listener whose NOTIFYs the test sends (`move`)."""

    def __init__(self, listening: bool = True) -> None:
        self.listening = listening
        self.count = 0

    def mark(self) -> int:
        return self.count

    def move(self) -> None:
        self.count += 1


class DB:
    """A read model of one row a uid, counting the statements it ran."""

    def __init__(self) -> None:
        self.nicknames = {1: "alice"}
        self.reads = 0
        self.during_read = lambda: None

    def fetchone(self, sql, params=()):
        self.reads += 1
        self.during_read()
        nickname = self.nicknames.get(params[0])
        return None if nickname is None else (nickname,)

    def fetchall(self, sql, params=()):
        row = self.fetchone(sql, params)
        return [] if row is None else [row]


@pytest.fixture
def wakeup() -> Wakeup:
    return Wakeup()


@pytest.fixture
def db() -> DB:
    return DB()


@pytest.fixture
def reads(db, wakeup) -> ReadCache:
    return ReadCache(db, wakeup, max_age=60)


def test_a_read_answers_again_from_memory_while_nothing_moved(reads, db):
    assert reads.fetchone(SQL, (1,)) == ("alice",)
    assert reads.fetchone(SQL, (1,)) == ("alice",)
    assert reads.fetchone(SQL, (2,)) is None
    assert reads.fetchone(SQL, (2,)) is None  # "no such user" is kept too

    assert db.reads == 2


def test_a_projection_moving_makes_every_read_go_to_the_database(reads, db, wakeup):
    reads.fetchone(SQL, (1,))
    db.nicknames[1] = "alicia"
    wakeup.move()

    assert reads.fetchone(SQL, (1,)) == ("alicia",)
    assert db.reads == 2


def test_a_read_during_which_a_projection_moved_is_not_kept(reads, db, wakeup):
    def projected_meanwhile() -> None:
        db.nicknames[1] = "alicia"
        wakeup.move()

    db.during_read = projected_meanwhile
    reads.fetchone(SQL, (1,))  # may have read the row before the projection's commit
    db.during_read = lambda: None

    assert reads.fetchone(SQL, (1,)) == ("alicia",)
    assert db.reads == 2


def test_nothing_is_kept_while_nobody_listens(db, wakeup):
    wakeup.listening = False
    reads = ReadCache(db, wakeup, max_age=60)
    reads.fetchone(SQL, (1,))
    db.nicknames[1] = "alicia"  # a move that no NOTIFY would tell

    assert reads.fetchone(SQL, (1,)) == ("alicia",)
    assert db.reads == 2


def test_an_answer_older_than_its_max_age_is_read_again(db, wakeup, monkeypatch):
    reads = ReadCache(db, wakeup, max_age=1.0)
    now = [100.0]
    monkeypatch.setattr("projections.read_cache.time.monotonic", lambda: now[0])
    reads.fetchone(SQL, (1,))
    db.nicknames[1] = "alicia"  # written by something that did not NOTIFY
    now[0] += 0.5
    assert reads.fetchone(SQL, (1,)) == ("alice",)

    now[0] += 0.6
    assert reads.fetchone(SQL, (1,)) == ("alicia",)


def test_rows_are_kept_as_a_tuple_that_no_caller_can_change(reads, db):
    rows = reads.fetchall(SQL, (1,))

    assert rows == (("alice",),)
    assert reads.fetchall(SQL, (1,)) is rows
    assert reads.fetchone(SQL, (1,)) == ("alice",)  # one row and all rows: two answers
    assert db.reads == 2


def test_a_full_cache_starts_afresh(db, wakeup):
    reads = ReadCache(db, wakeup, size=2, max_age=60)
    for uid in (1, 2, 3):
        reads.fetchone(SQL, (uid,))
    reads.fetchone(SQL, (3,))
    assert db.reads == 3  # the third was kept after the first two were dropped

    reads.fetchone(SQL, (1,))
    assert db.reads == 4
