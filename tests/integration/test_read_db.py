"""The read models' database on PostgreSQL: single-statement reads on each thread's own
connection, and connections the server ends."""

from __future__ import annotations

import os
import threading
import time

import psycopg
import pytest

from projections.postgres import PostgresDB

pytestmark = pytest.mark.postgres


def test_a_read_after_the_server_ended_the_pools_connections_gets_a_new_one(postgres_url):
    db = PostgresDB(postgres_url, max_size=2)
    try:
        with db.transaction() as tx:
            tx.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
            tx.execute("INSERT INTO notes VALUES (1, 'kept')")
        assert db.fetchone("SELECT text FROM notes WHERE id = ?", (1,)) == ("kept",)
        with psycopg.connect(postgres_url, autocommit=True) as admin:  # as a restart would
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        assert db.fetchall("SELECT text FROM notes") == [("kept",)]
    finally:
        db.close()


def test_a_read_sees_what_was_committed_since_the_last_read(postgres_url):
    db = PostgresDB(postgres_url, max_size=1)
    try:
        with db.transaction() as tx:
            tx.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        assert db.fetchall("SELECT text FROM notes") == []
        with psycopg.connect(postgres_url, autocommit=True) as other:
            other.execute("INSERT INTO notes VALUES (1, 'new')")
        assert db.fetchall("SELECT text FROM notes") == [("new",)]
        with pytest.raises(psycopg.errors.UniqueViolation), db.transaction() as tx:
            tx.execute("INSERT INTO notes VALUES (2, 'half')")  # a transaction: all or nothing
            tx.execute("INSERT INTO notes VALUES (1, 'clash')")
        assert db.fetchall("SELECT id FROM notes") == [(1,)]
    finally:
        db.close()


def test_each_reading_thread_keeps_its_connection_until_it_ends(postgres_url):
    db = PostgresDB(postgres_url, max_size=1)

    def backend() -> int:
        return db.fetchone("SELECT pg_backend_pid()")[0]

    try:
        mine = backend()
        assert backend() == mine  # the same connection, read after read
        seen: list[int] = []
        reader = threading.Thread(target=lambda: seen.append(backend()))
        reader.start()
        reader.join()
        assert seen and seen[0] != mine  # a thread of its own
        later = threading.Thread(target=backend)  # opening its connection closes the ended one's
        later.start()
        later.join()
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            for _ in range(50):  # the server ends a closed connection's backend soon after
                alive = admin.execute("SELECT pid FROM pg_stat_activity WHERE pid = %s", seen)
                if not alive.fetchall():
                    break
                time.sleep(0.1)
            else:
                raise AssertionError("the ended thread's connection is still open")
    finally:
        db.close()


def test_a_process_holding_over_a_thousand_files_still_gets_connections(postgres_url):
    # as a long-lived process holds files: its sockets get numbers past select()'s 1023
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    db = PostgresDB(postgres_url, max_size=1)
    try:
        with db.transaction() as tx:
            tx.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY)")
        with db.transaction() as tx:  # the pool checks the connection it hands out again
            tx.execute("INSERT INTO notes VALUES (1)")
        assert db.fetchall("SELECT id FROM notes") == [(1,)]
    finally:
        db.close()
        for fd in held:
            os.close(fd)


def test_reads_on_a_threads_one_cursor_each_answer_their_own_rows(postgres_url):
    db = PostgresDB(postgres_url, max_size=1)
    try:
        rows = db.fetchall("SELECT n FROM generate_series(1, 3) AS n")
        assert db.fetchone("SELECT 'b'") == ("b",)
        assert rows == [(1,), (2,), (3,)]  # still the first read's, after the next one
        with pytest.raises(psycopg.errors.UndefinedTable):
            db.fetchone("SELECT 1 FROM no_such_table")
        assert db.fetchone("SELECT ?::int + 1", (41,)) == (42,)  # a failed read spoils nothing
        assert db.fetchone("SELECT 1 WHERE false") is None
    finally:
        db.close()


def test_work_side_by_side_runs_at_once_and_fails_with_its_error_once_all_ended(postgres_url):
    db = PostgresDB(postgres_url, max_size=2)
    both_open = threading.Barrier(2, timeout=10)  # broken if the two ran one after the other

    def insert() -> None:
        with db.transaction() as tx:
            tx.execute("INSERT INTO notes VALUES (1, 'kept')")
            both_open.wait()
            time.sleep(0.2)  # still open when the other fails

    def fail() -> None:
        both_open.wait()
        raise ValueError("this work failed")

    try:
        with db.transaction() as tx:
            tx.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        with pytest.raises(ValueError, match="this work failed"):
            db.side_by_side([fail, insert])
        assert db.fetchall("SELECT text FROM notes") == [("kept",)]
        db.side_by_side([])  # nothing to do: a refilled table with no index
    finally:
        db.close()
