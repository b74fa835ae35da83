"""`upare clients create|list|rotate-secret|delete` against the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from typer.testing import CliRunner

from commands.clients import DeleteClient, load_client
from domain.keys import digest
from tests.integration.feeds import project
from upare import sessions
from upare.cache import RedisCache
from upare.cli import app

URI = "https://app.example/callback"


@pytest.fixture
def refused(container):
    """Return a function running `upare ARGS...` that must fail: (exit code, its stderr)."""
    env = {
        "UPARE_DATA_DIR": str(container.settings.data_dir),
        "UPARE_DATABASE_URL": container.settings.database_url,
    }

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, list(args), env=env)
        assert result.exit_code != 0, result.output
        return result.exit_code, result.stderr

    return run


def create(cli, *flags: str) -> dict[str, str]:
    return json.loads(
        cli("clients", "create", "--name", "Diary", "--redirect-uri", URI, "--json", *flags)
    )


def listed(cli, container) -> dict[str, dict]:
    project(container)
    lines = cli("clients", "list", "--json").splitlines()
    return {client["client_id"]: client for client in map(json.loads, lines)}


def give_token(cache, client_id: str, uid: int = 10001) -> str:
    access_digest = digest(uuid.uuid4().hex)
    sessions.cache_token(
        cache,
        access_digest,
        uid=uid,
        client_id=client_id,
        scopes=["user_info"],
        expires_at=time.time() + 600,
        authorization=uuid.uuid4().hex,
    )
    return access_digest


def revoked(cache, access_digest: str) -> bool:
    return json.loads(cache.get("token:" + access_digest)).get("revoked", False)


def test_create_answers_an_id_and_a_secret_that_only_its_digest_is_stored_of(cli, container):
    made = create(cli, "--scope", "user_info,messages", "--trusted", "--allow-password-grant")

    assert made["client_id"].isdigit() and len(made["client_id"]) == 15
    client = load_client(container.app, made["client_id"])
    assert client is not None and client.proves(made["client_secret"])
    stored = b"".join(container.log.plain_state(n) for n in container.log.notifications(0, 100))
    assert made["client_secret"].encode() not in stored
    assert digest(made["client_secret"]).encode() in stored
    shown = listed(cli, container)[made["client_id"]]
    assert shown["name"] == "Diary" and shown["redirect_uris"] == [URI]
    assert shown["scopes"] == ["messages", "user_info"]
    assert (shown["trusted"], shown["password_grant"], shown["public"]) == (True, True, False)
    assert shown["created_at"] and shown["deleted_at"] is None


def test_create_without_json_shows_the_secret_once_with_a_warning(cli):
    printed = cli("clients", "create", "--name", "Diary", "--redirect-uri", URI)
    assert "client_secret" in printed and "not shown again" in printed


def test_a_public_client_has_no_secret_and_several_redirect_uris(cli, container):
    other = "http://127.0.0.1:8765/cb"
    made = json.loads(
        cli("clients", "create", "--name", "App", "--redirect-uri", URI, "--redirect-uri", other,
            "--public", "--json")
    )  # fmt: skip
    assert made["client_secret"] is None
    shown = listed(cli, container)[made["client_id"]]
    assert shown["public"] is True and shown["redirect_uris"] == [URI, other]


def test_the_table_lists_every_client(cli, container):
    first, second = create(cli), create(cli, "--public")
    project(container)
    table = cli("clients", "list")
    assert first["client_id"] in table and second["client_id"] in table
    assert "clients (2)" in table


def test_rotating_a_secret_ends_the_old_one_at_once(cli, container):
    made = create(cli)
    rotated = json.loads(cli("clients", "rotate-secret", made["client_id"], "--json"))

    client = load_client(container.app, made["client_id"])
    assert client is not None
    assert client.proves(rotated["client_secret"])
    assert not client.proves(made["client_secret"])
    assert listed(cli, container)[made["client_id"]]["secret_rotated_at"]


def test_deleting_a_client_ends_it_and_its_live_tokens(cli, container):
    made, other = create(cli), create(cli)
    mine = [give_token(container.cache, made["client_id"], uid) for uid in (10001, 10002)]
    theirs = give_token(container.cache, other["client_id"])

    assert "deleted" in cli("clients", "delete", made["client_id"])

    assert load_client(container.app, made["client_id"]) is None
    assert all(revoked(container.cache, token) for token in mine)
    assert not revoked(container.cache, theirs)
    assert listed(cli, container)[made["client_id"]]["deleted_at"]


@pytest.mark.redis
@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_deleting_a_client_ends_its_tokens_in_redis(cli, container, redis_url):
    container.cache = RedisCache(redis_url, prefix=f"test-{uuid.uuid4().hex}:")
    made = create(cli)
    token = give_token(container.cache, made["client_id"])

    container.bus.execute(DeleteClient(client_id=made["client_id"]))

    assert revoked(container.cache, token)
    assert container.cache.members(sessions.client_tokens_key(made["client_id"])) == frozenset()


@pytest.mark.parametrize("command", ["rotate-secret", "delete"])
def test_an_unknown_or_deleted_client_id_is_refused(cli, refused, command):
    made = create(cli)
    cli("clients", "delete", made["client_id"])
    for client_id in ("123", "999999999999999", made["client_id"]):
        code, said = refused("clients", command, client_id)
        assert (code, said.strip()) == (1, "error: no such client (unknown or deleted client id)")


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (("--redirect-uri", "/relative"), "error: redirect_uri:"),
        (("--redirect-uri", "https://app.example/cb#frag"), "error: redirect_uri:"),
        (("--redirect-uri", "https://app.example/cb?error=0"), "error: redirect_uri:"),
        (("--redirect-uri", "https://app.example/cb?a=1&code="), "error: redirect_uri:"),
        (("--redirect-uri", URI, "--scope", "user_info,everything"), "error: scope:"),
        (("--redirect-uri", URI, "--scope", ","), "error: scope:"),
    ],
)
def test_a_bad_redirect_uri_or_scope_is_refused_and_nothing_is_stored(
    container, refused, flags, said
):
    code, printed = refused("clients", "create", "--name", "Diary", *flags)
    assert code == 2 and printed.startswith(said)
    assert container.log.head() == 0
