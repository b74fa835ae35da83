"""`upare.history.events`, `upare events export|log|as-of`, on each backend, read back with
DuckDB and pandas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from typer.testing import CliRunner

from commands.erasure import EraseUser
from commands.profiles import ModifyBasicInfo, ModifyDetailInfo
from commands.users import RegisterUser
from domain.users import User, user_id
from upare import history
from upare.cli import app

EMAIL, NAME, IDCARD, PHONE = (
    "ada.l@example.com",
    "Ada Lovelace",
    "11010519491231002X",
    "13800138000",
)


class Note(Aggregate):
    """An aggregate whose event changed shape: v1 had no `tags`."""

    class Written(Aggregate.Created):
        class_version = 2
        text: str
        tags: list[str]

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            state["tags"] = ["untagged"]

    @event(Written)
    def __init__(self, text: str, tags: list[str]) -> None:
        self.text, self.tags = text, tags


def save_users(store, *uids: int) -> None:
    store.save(
        *[
            User.register(uid=uid, username=f"u{uid}", email=f"u{uid}@x.io", password_hash="h")
            for uid in uids
        ]
    )


def rename(store, uid: int, nickname: str) -> None:
    user = store.repository.get(user_id(uid))
    user.change_nickname(nickname)
    store.save(user)


@pytest.fixture
def failing(container):
    """Return a function running `upare ARGS...` that must fail; it returns what it said."""
    env = {
        "UPARE_DATA_DIR": str(container.settings.data_dir),
        "UPARE_DATABASE_URL": container.settings.database_url,
    }

    def run(*args: str) -> str:
        result = CliRunner().invoke(app, list(args), env=env)
        assert result.exit_code != 0, result.output
        return result.output

    return run


def test_events_yield_each_stored_event_as_a_plain_record_in_log_order(container):
    save_users(container.app, 10001, 10002)
    rename(container.app, 10001, "Alice")

    found = list(history.events(container.app))

    assert [(e.position, e.type, e.version) for e in found] == [
        (1, "User.Registered", 1),
        (2, "User.Registered", 1),
        (3, "User.NicknameChanged", 2),
    ]
    assert found[2].aggregate_id == str(user_id(10001))
    assert found[2].data == {"personal": {"nickname": "Alice"}}  # unsealed: the key is there
    assert found[0].data == {
        "uid": 10001,
        "username": "u10001",
        "personal": {"email": "u10001@x.io", "password_hash": "***"},  # a secret: never shown
    }
    assert found[0].timestamp.tzinfo == UTC
    assert json.loads(found[2].json())["timestamp"] == found[2].timestamp.isoformat()


def test_events_open_the_store_the_settings_name(container):
    save_users(container.app, 10001)
    assert [e.position for e in history.events(container.settings)] == [1]


def test_events_filter_by_type_aggregate_time_and_position(container):
    save_users(container.app, 10001, 10002, 10003)
    rename(container.app, 10002, "Bob")
    middle = next(e.timestamp for e in history.events(container.app) if e.position == 2)

    def positions(**filters) -> list[int]:
        return [e.position for e in history.events(container.app, **filters)]

    assert positions(types=["User.NicknameChanged"]) == [4]
    assert positions(types=[get_topic(User.NicknameChanged), "User.Registered"]) == [1, 2, 3, 4]
    assert positions(aggregate=user_id(10002)) == [2, 4]
    assert positions(aggregate=str(user_id(10002)), types=["User.Registered"]) == [2]
    assert positions(since=middle) == [2, 3, 4]
    assert positions(until=middle) == [1]
    assert positions(since=middle.replace(tzinfo=None)) == [2, 3, 4]  # naive: UTC
    assert positions(after_position=2) == [3, 4]
    assert positions(after_position=1, upto=3) == [2, 3]


def test_events_read_the_log_in_pages_and_report_their_progress(container, monkeypatch):
    save_users(container.app, *range(10001, 10026))
    monkeypatch.setattr(history, "PAGE", 10)
    reached: list[tuple[int, int]] = []

    found = list(history.events(container.app, progress=lambda *at: reached.append(at)))

    assert [e.position for e in found] == list(range(1, 26))
    assert reached == [(10, 25), (20, 25), (25, 25)]


def test_events_read_old_rows_in_todays_shape_through_the_mapper(container):
    note = Note(text="hello", tags=["a"])
    container.app.save(note)
    transcoder = container.app.mapper.transcoder
    old = {"text": "from v1", "timestamp": datetime.now(UTC), "originator_topic": get_topic(Note)}
    container.app.recorder.insert_events(
        [StoredEvent(uuid4(), 1, get_topic(Note.Written), transcoder.encode(old))]
    )

    found = [e.data for e in history.events(container.app)]

    assert found[0] == {"text": "hello", "tags": ["a"]}
    assert found[1] == {"text": "from v1", "tags": ["untagged"]}


def test_export_to_jsonl_reads_back_with_duckdb_and_pandas(container, cli, tmp_path):
    save_users(container.app, 10001, 10002)
    rename(container.app, 10001, "Alice")
    out = tmp_path / "events.jsonl"

    said = cli("events", "export", "--format", "jsonl", "--out", str(out))

    assert "exported 3 events (positions 1-3)" in said
    rows = duckdb.sql(
        "SELECT position, type, data->>'personal'"
        f" FROM read_json('{out}', columns = {{'position': 'BIGINT', 'type': 'VARCHAR',"
        " 'data': 'JSON'}) ORDER BY position"
    ).fetchall()
    assert [(position, kind) for position, kind, _ in rows] == [
        (1, "User.Registered"),
        (2, "User.Registered"),
        (3, "User.NicknameChanged"),
    ]
    sealed = rows[2][2]  # personal data stays sealed in a file: the store's ciphertext
    assert "Alice" not in out.read_text()
    assert container.app.vault.open(str(user_id(10001)), sealed) == {"nickname": "Alice"}
    frame = pd.read_json(out, lines=True)
    assert list(frame.columns) == [
        "position",
        "type",
        "aggregate_id",
        "version",
        "timestamp",
        "data",
    ]
    assert isinstance(frame["data"][0]["personal"], str)
    assert "u10001@x.io" not in out.read_text()


def test_export_to_parquet_has_typed_columns(container, cli, tmp_path):
    save_users(container.app, 10001, 10002)
    rename(container.app, 10002, "Bob")
    out = tmp_path / "events"

    cli(
        "events",
        "export",
        "--format",
        "parquet",
        "--out",
        str(out),
        "--type",
        "User.NicknameChanged",
    )

    schema = pq.read_schema(next(out.glob("*.parquet")))
    assert str(schema.field("position").type) == "int64"
    assert str(schema.field("timestamp").type) == "timestamp[us, tz=UTC]"
    rows = duckdb.sql(
        "SELECT position, version, data->>'personal', timestamp > now() - INTERVAL 1 HOUR"
        f" FROM '{out}/*.parquet'"
    ).fetchall()
    assert [(position, version, recent) for position, version, _, recent in rows] == [(3, 2, True)]
    assert container.app.vault.open(str(user_id(10002)), rows[0][2]) == {"nickname": "Bob"}
    frame = pd.read_parquet(out)
    assert str(frame["timestamp"].dtype).startswith("datetime64[us, UTC]")
    assert json.loads(frame["data"][0]) == {"personal": rows[0][2]}


def test_export_filters_by_aggregate_time_and_position(container, cli, tmp_path):
    save_users(container.app, 10001, 10002, 10003)
    out = tmp_path / "events.jsonl"
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()

    def exported(*options: str) -> list[int]:
        cli("events", "export", "--format", "jsonl", "--out", str(out), *options)
        return [json.loads(line)["position"] for line in out.read_text().splitlines()]

    assert exported("--aggregate", str(user_id(10002))) == [2]
    assert exported("--after-position", "1") == [2, 3]
    assert exported("--since", later) == []
    assert exported("--until", later) == [1, 2, 3]


@pytest.mark.parametrize("format", ["jsonl", "parquet"])
def test_a_state_file_makes_each_run_export_only_what_is_new(container, cli, tmp_path, format):
    out, state = tmp_path / "out", tmp_path / "state.json"
    run = ("events", "export", "--format", format, "--out", str(out), "--state", str(state))
    save_users(container.app, 10001, 10002)
    cli(*run)
    save_users(container.app, 10003)
    rename(container.app, 10001, "Alice")

    assert "exported 2 events (positions 3-4)" in cli(*run)
    assert "exported 0 events (nothing after 4)" in cli(*run)

    source = f"read_json('{out}')" if format == "jsonl" else f"'{out}/*.parquet'"
    positions = duckdb.sql(f"SELECT position FROM {source} ORDER BY position").fetchall()
    assert positions == [(1,), (2,), (3,), (4,)]
    assert json.loads(state.read_text())["position"] == 4


def test_an_incremental_jsonl_run_drops_the_partial_tail_of_a_run_that_died(
    container, cli, tmp_path
):
    out, state = tmp_path / "events.jsonl", tmp_path / "state.json"
    run = ("events", "export", "--format", "jsonl", "--out", str(out), "--state", str(state))
    save_users(container.app, 10001)
    cli(*run)
    with open(out, "a") as file:
        file.write('{"position": 2, "type": "User.Regi')  # what a killed run left
    save_users(container.app, 10002)

    cli(*run)

    assert [json.loads(line)["position"] for line in out.read_text().splitlines()] == [1, 2]


def test_export_refuses_a_bad_format_time_id_or_state(container, failing, tmp_path):
    out = str(tmp_path / "out")
    assert "jsonl or parquet" in failing("events", "export", "--format", "csv", "--out", out)
    base = ("events", "export", "--format", "jsonl", "--out", out)
    assert "not an ISO 8601 time" in failing(*base, "--since", "yesterday")
    assert "not an id" in failing(*base, "--aggregate", "10001")
    state = tmp_path / "state.json"
    state.write_text('{"format": "parquet", "position": 3, "size": 0}')
    assert "parquet export" in failing(*base, "--state", str(state))


def test_log_prints_an_aggregates_history(container, cli):
    save_users(container.app, 10001, 10002)
    rename(container.app, 10001, "Alice")

    lines = cli("events", "log", "--uid", "10001").splitlines()

    assert [line.split("\t")[:2] for line in lines] == [["1", "v1"], ["3", "v2"]]
    assert lines[1].split("\t")[3:] == [
        "User.NicknameChanged",
        '{"personal": {"nickname": "Alice"}}',
    ]
    assert cli("events", "log", "--aggregate", str(user_id(10002))).startswith("2\tv1\t")


def test_log_of_an_unknown_aggregate_or_without_one_fails(container, failing):
    assert "no events of" in failing("events", "log", "--uid", "10009")
    assert "--uid or --aggregate" in failing("events", "log")
    assert "--uid or --aggregate" in failing("events", "log", "--uid", "1", "--aggregate", "x")


def test_as_of_prints_an_aggregates_state_at_a_version_or_a_time(container, cli):
    save_users(container.app, 10001)
    between = datetime.now(UTC)
    rename(container.app, 10001, "Alice")

    first = json.loads(cli("events", "as-of", "--uid", "10001", "--version", "1"))
    then = json.loads(cli("events", "as-of", "--uid", "10001", "--at", between.isoformat()))
    now = json.loads(
        cli("events", "as-of", "--uid", "10001", "--at", datetime.now(UTC).isoformat())
    )

    assert (first["type"], first["version"], first["state"]["nickname"]) == ("User", 1, "u10001")
    assert then == first
    assert (now["version"], now["state"]["nickname"]) == (2, "Alice")


def test_as_of_before_the_aggregate_or_past_its_versions_fails(container, failing):
    save_users(container.app, 10001)
    assert "no version 3" in failing("events", "as-of", "--uid", "10001", "--version", "3")
    before = "2020-01-01T00:00:00+00:00"
    assert "had no version" in failing("events", "as-of", "--uid", "10001", "--at", before)
    assert "--at or --version" in failing("events", "as-of", "--uid", "10001")


def ada(container) -> int:
    """Register Ada with her real name as nickname, a phone, her name and ID number."""
    uid = container.bus.execute(
        RegisterUser(username="ada", password="correct horse", email=EMAIL)
    ).fields["uid"]
    container.bus.execute(ModifyBasicInfo(uid=uid, nickname=NAME, phone=PHONE))
    container.bus.execute(ModifyDetailInfo(uid=uid, details={"realname": NAME, "idcard": IDCARD}))
    return uid


@pytest.mark.parametrize("format", ["jsonl", "parquet"])
def test_an_export_after_an_erasure_shows_the_persons_events_redacted(
    container, cli, tmp_path, format
):
    uid = ada(container)
    save_users(container.app, 20001)
    old = tmp_path / ("old.jsonl" if format == "jsonl" else "old")
    cli("events", "export", "--format", format, "--out", str(old))
    container.bus.execute(EraseUser(uid=uid))
    out = tmp_path / ("events.jsonl" if format == "jsonl" else "parquet")

    cli("events", "export", "--format", format, "--out", str(out))

    def read(path: Path) -> list[tuple[str, str, dict]]:
        if format == "jsonl":  # DuckDB reads `data` as a struct: back to JSON text
            source, data = f"read_json_auto('{path}')", "to_json(data)"
        else:  # a JSON string column already
            source, data = f"'{path}/*.parquet'", "data"
        rows = duckdb.sql(
            f"SELECT type, CAST(aggregate_id AS VARCHAR), CAST({data} AS VARCHAR) FROM {source}"
        ).fetchall()
        return [(kind, owner, json.loads(data)) for kind, owner, data in rows]

    rows, hers = read(out), str(user_id(uid))
    assert {"User.Registered", "User.Erased"} <= {kind for kind, _, _ in rows}
    personal = [data["personal"] for _, owner, data in rows if "personal" in data]
    assert len([1 for _, owner, data in rows if owner == hers and "personal" in data]) >= 3
    assert all(data.get("personal") is None for _, owner, data in rows if owner == hers)
    assert [value for value in personal if value is not None]  # the others' still sealed
    everything = "\n".join(map(str, rows))
    assert not [secret for secret in (EMAIL, NAME, IDCARD, PHONE) if secret in everything]
    sealed = [
        data["personal"] for _, owner, data in read(old) if owner == hers and "personal" in data
    ]  # the export made before her erasure: her ciphertext, whose key is gone
    assert sealed and all(value is not None for value in sealed)
    assert [container.app.vault.open(str(user_id(uid)), value) for value in sealed] == [None] * len(
        sealed
    )


def test_as_of_shows_a_password_hash_as_stars_and_an_erased_persons_values_blank(container, cli):
    uid = ada(container)
    stored = container.app.repository.get(user_id(uid)).password_hash

    before = cli("events", "as-of", "--uid", str(uid), "--version", "1")
    container.bus.execute(EraseUser(uid=uid))
    after = cli("events", "as-of", "--uid", str(uid), "--version", "3")
    log = cli("events", "log", "--uid", str(uid))

    assert json.loads(before)["state"]["email"] == EMAIL  # before the erasure: her own data
    assert json.loads(before)["state"]["password_hash"] == history.REDACTED
    assert json.loads(after)["state"]["email"] == ""  # after it: blank, then too
    for said in (before, after, log):
        assert stored.split("$")[-1] not in said  # not even a part of the hash
    assert not [secret for secret in (NAME, IDCARD, PHONE) if secret in after + log]
    assert "sealed" not in after + log


def test_an_export_imports_neither_the_api_the_brokers_nor_pandas(container, tmp_path):
    save_users(container.app, 10001)
    heavy = ["api", "falcon", "gunicorn", "kafka", "redis", "PIL", "workers", "pandas"]
    program = """
import atexit, sys
heavy = set(sys.argv[2:])
atexit.register(lambda: print(sorted({name.split(".")[0] for name in sys.modules} & heavy)))
from upare.entry import main
sys.argv = ["upare", "events", "export", "--format", "parquet", "--out", sys.argv[1]]
main()
"""
    env = {
        **os.environ,
        "UPARE_DATA_DIR": str(container.settings.data_dir),
        "UPARE_DATABASE_URL": container.settings.database_url,
    }

    done = subprocess.run(
        [sys.executable, "-c", program, str(tmp_path / "parquet"), *heavy],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )

    assert "exported 1 events" in done.stdout
    assert done.stdout.splitlines()[-1] == "[]"
