"""Verified rebuilds, kept generations and rollbacks, on each backend, through the functions
and through `upare projections rebuild --verify|--force|--keep` and `upare projections rollback`."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import upare.bootstrap
from domain.users import User
from projections import PROJECTIONS, catalog
from projections.base import handles
from projections.compare import checksum
from projections.database import Transaction
from projections.events import EventRecord
from projections.notices import NoticesProjection
from projections.rebuild import Mismatch, RebuildError, rebuild, rollback
from projections.users import UsersProjection
from tests.integration.feeds import project
from tests.integration.smtp import SmtpServer
from tests.integration.test_notifier import Pipeline, befriend, outcome, register, wired
from tests.integration.test_projections_cli import save_users
from tests.integration.welcome import SENT
from upare.cli import app


class ShoutingUsers(UsersProjection):
    """A changed users projection: its new version stores nicknames in capitals."""

    version = UsersProjection.version + 1

    @handles(User.Registered)
    def registered(self, tx: Transaction, event: EventRecord) -> None:
        super().registered(tx, event)
        tx.execute(
            f"UPDATE {self.table('profiles')} SET nickname = upper(nickname) WHERE uid = ?",
            (event.data["uid"],),
        )


def nicknames(container) -> list[tuple]:
    return container.db.fetchall("SELECT uid, nickname FROM users_profiles ORDER BY uid")


def generations(container, name: str = "users") -> tuple[int | None, catalog.Kept | None]:
    with container.db.transaction(write=False) as tx:
        return catalog.live_generation(tx, name), catalog.kept(tx, name)


def invoke(container, *args: str):
    env = {
        "UPARE_DATA_DIR": str(container.settings.data_dir),
        "UPARE_DATABASE_URL": container.settings.database_url,
    }
    return CliRunner().invoke(app, list(args), env=env)


@pytest.fixture
def shouting(monkeypatch):
    """Deploy the changed users projection: the CLI's processes now run ShoutingUsers."""
    changed = [ShoutingUsers if cls is UsersProjection else cls for cls in PROJECTIONS]
    monkeypatch.setattr(upare.bootstrap, "PROJECTIONS", changed)
    return ShoutingUsers


def test_a_verified_rebuild_that_matches_switches_and_says_so(container, cli):
    save_users(container.app, 10001, 10002, 10003)
    project(container)

    output = cli("projections", "rebuild", "users", "--verify")

    assert "users: live generation 1 against new generation 2 at position 3" in output
    assert "  profiles: rows 3 / 3, checksum " in output
    assert output.count(": match") == 1
    assert "users: generation 2 is live at position 3" in output
    assert generations(container) == (2, None)  # not kept: dropped at the switch
    assert not container.db.table_exists("users_g1_profiles")


def test_a_verified_rebuild_compares_at_one_position_though_the_live_generation_lags(container):
    save_users(container.app, 10001, 10002)
    project(container)
    save_users(container.app, 10003)  # stored, not applied by the live generation yet

    done = rebuild(container.log, container.db, UsersProjection, verify=True)

    assert done.comparison is not None and done.comparison.matches
    assert (done.generation, done.comparison.position) == (2, 3)
    assert [row[0] for row in nicknames(container)] == [10001, 10002, 10003]


def test_a_verified_rebuild_that_differs_refuses_and_leaves_readers_as_they_were(container):
    save_users(container.app, 10001, 10002)
    project(container)

    with pytest.raises(Mismatch) as refused:
        rebuild(container.log, container.db, ShoutingUsers, verify=True)

    comparison = refused.value.comparison
    (profiles,) = comparison.tables
    assert (profiles.live_rows, profiles.new_rows, profiles.differing) == (2, 2, 2)
    assert profiles.live_checksum != profiles.new_checksum
    first = profiles.sample[0]
    assert first.key == {"uid": 10001}
    assert first.live is not None and first.new is not None
    assert (first.live["nickname"], first.new["nickname"]) == ("u10001", "U10001")
    assert "readers stay on generation 1 (--force switches anyway)" in str(refused.value)
    assert nicknames(container) == [(10001, "u10001"), (10002, "u10002")]
    assert generations(container) == (1, None)
    assert not container.db.table_exists("users_g2_profiles")  # the refused one is dropped


def test_the_rebuild_command_shows_the_rows_that_differ_and_exits_1(container, shouting):
    save_users(container.app, 10001, 10002)
    project(container)

    result = invoke(container, "projections", "rebuild", "users", "--verify")

    assert result.exit_code == 1
    assert "  profiles: rows 2 / 2, checksum " in result.stdout
    assert ": DIFFER (2 rows)" in result.stdout
    assert "    uid=10001: nickname 'u10001' -> 'U10001'" in result.stdout
    assert "    uid=10002: nickname 'u10002' -> 'U10002'" in result.stdout
    assert "rebuild refused: generation 2 of 'users' differs" in result.stderr
    assert nicknames(container)[0] == (10001, "u10001")


def test_force_switches_a_rebuild_that_differs(container, cli, shouting):
    save_users(container.app, 10001, 10002)
    project(container)

    output = cli("projections", "rebuild", "users", "--verify", "--force")

    assert ": DIFFER (2 rows)" in output
    assert "users: generation 2 is live at position 2" in output
    assert nicknames(container) == [(10001, "U10001"), (10002, "U10002")]
    with container.db.transaction(write=False) as tx:
        assert catalog.built_version(tx, "users") == ShoutingUsers.version


def test_force_without_verify_is_refused(container):
    result = invoke(container, "projections", "rebuild", "users", "--force")
    assert result.exit_code == 2
    assert "--force goes with --verify" in result.output


def test_keep_then_rollback_restores_the_old_readers_caught_up_first(container, cli, shouting):
    save_users(container.app, 10001, 10002)
    project(container)

    output = cli("projections", "rebuild", "users", "--keep")
    assert "users: generation 1 is kept (`upare projections rollback users`" in output
    assert generations(container) == (2, catalog.Kept(1, UsersProjection.version))
    save_users(container.app, 10003)  # served by the new generation only
    project(container, [ShoutingUsers])
    save_users(container.app, 10004)  # stored, applied by no generation yet
    assert nicknames(container) == [(10001, "U10001"), (10002, "U10002"), (10003, "U10003")]

    done = rollback(container.log, container.db, UsersProjection)

    assert (done.generation, done.position, done.kept) == (1, 4, 2)
    assert nicknames(container) == [(uid, f"u{uid}") for uid in (10001, 10002, 10003, 10004)]
    assert generations(container) == (1, catalog.Kept(2, ShoutingUsers.version))
    with container.db.transaction(write=False) as tx:
        assert catalog.built_version(tx, "users") == UsersProjection.version
        assert catalog.position(tx, UsersProjection(1)) == 4
    save_users(container.app, 10005)
    project(container)  # the feeds carry on with the generation rolled back to
    assert nicknames(container)[-1] == (10005, "u10005")


def test_a_rollback_by_code_of_another_version_than_the_kept_generation_is_refused(
    container, shouting
):
    save_users(container.app, 10001)
    project(container)
    rebuild(container.log, container.db, ShoutingUsers, keep=True)  # keeps the old version's

    result = invoke(container, "projections", "rollback", "users")  # still the changed code

    assert result.exit_code == 1
    assert (
        f"the kept generation 1 of 'users' was built by version {UsersProjection.version},"
        f" and this code is version {ShoutingUsers.version}: run the code it was built with,"
        " or rebuild"
    ) in result.stderr
    assert generations(container)[0] == 2
    assert nicknames(container) == [(10001, "U10001")]


def test_the_rollback_command_says_what_it_did(container, cli):
    save_users(container.app, 10001)
    project(container)
    cli("projections", "rebuild", "users", "--keep")

    output = cli("projections", "rollback", "users")

    assert output.strip().endswith(
        "users: generation 1 is live again at position 1 (caught up over 0 events);"
        " generation 2 is kept (rolling back again switches to it)"
    )
    assert generations(container) == (1, catalog.Kept(2, UsersProjection.version))


def test_a_rollback_without_a_kept_generation_is_refused(container):
    save_users(container.app, 10001)
    project(container)
    rebuild(container.log, container.db, UsersProjection)  # without --keep

    result = invoke(container, "projections", "rollback", "users")

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "rolling back users refused: projection 'users' has no kept generation to roll back"
        " to (`upare projections rebuild NAME --keep` keeps one)"
    )
    assert generations(container) == (2, None)
    with pytest.raises(RebuildError):
        rollback(container.log, container.db, UsersProjection)


def test_generation_numbers_are_never_reused_and_one_generation_is_kept_at_most(container):
    save_users(container.app, 10001)
    project(container)
    rebuild(container.log, container.db, UsersProjection, keep=True)  # live 2, kept 1
    rollback(container.log, container.db, UsersProjection)  # live 1, kept 2

    done = rebuild(container.log, container.db, UsersProjection, keep=True)

    assert done.generation == 3
    assert generations(container) == (3, catalog.Kept(1, UsersProjection.version))
    assert not container.db.table_exists("users_g2_profiles")
    assert container.db.fetchall(
        "SELECT DISTINCT generation FROM projection_tracking WHERE projection = ?"
        " ORDER BY generation",
        ("users",),
    ) == [(1,), (3,)]


CHECKSUM = "0712c5dbf6ab95bf15673c8ef1b6a11e"  # of the rows below, whichever engine holds them


def test_a_rollback_runs_each_side_effect_once_neither_twice_nor_never(container, welcome):
    save_users(container.app, 10001, 10002)
    project(container, [welcome])
    rebuild(container.log, container.db, welcome, verify=True, keep=True)
    save_users(container.app, 10003)
    project(container, [welcome])  # the new generation mails 10003
    save_users(container.app, 10004)  # not handled by any generation yet

    rollback(container.log, container.db, welcome)

    assert sorted(SENT) == [10001, 10002, 10003, 10004]
    rows = container.db.fetchall("SELECT uid FROM welcome_sent ORDER BY uid")
    assert rows == [(10001,), (10002,), (10003,), (10004,)]


def test_a_checksum_is_the_same_on_sqlite_and_postgres(container):
    # text keys in mixed case and accents: the engines order them differently, and pages of
    # them in key order still sum to the same checksum
    rows = [(f"{'aBé'[i % 3]}{i}", None if i % 7 == 0 else i * 3) for i in range(2500)]
    with container.db.transaction() as tx:
        tx.execute("CREATE TABLE sums (name TEXT PRIMARY KEY, n INTEGER)")
        tx.executemany("INSERT INTO sums (name, n) VALUES (?, ?)", rows)
        assert checksum(tx, "sums", ["name", "n"], ["name"]) == (2500, CHECKSUM)


def test_a_rollback_of_the_notices_mails_each_new_friend_once(settings):
    alice, bob, carol, dave = register(settings, "alice", "bob", "carol", "dave")
    with SmtpServer() as server, wired(settings, server.url) as container:
        first = befriend(container, alice, bob)
        pipeline = Pipeline(container)
        pipeline.until(lambda: outcome(container, first) == "notified")
        rebuild(container.log, container.db, NoticesProjection, verify=True, keep=True)
        second = befriend(container, alice, carol)  # noticed by the new generation
        pipeline.until(lambda: outcome(container, second) == "notified")
        third = befriend(container, alice, dave)  # stored, noticed by no generation yet
        pipeline.feeds[0].run_once()

        done = rollback(container.log, container.db, NoticesProjection)
        pipeline.until(lambda: outcome(container, third) == "notified")

        assert (done.generation, done.kept) == (1, 2)
        mailed = sorted(mail["To"] for mail in server.inbox.mails)
        assert mailed == ["bob@example.com", "carol@example.com", "dave@example.com"]
        rows = container.db.fetchall("SELECT friend, status FROM notices_rounds ORDER BY friend")
        assert [tuple(row) for row in rows] == [
            (bob, "notified"),
            (carol, "notified"),
            (dave, "notified"),
        ]


def kept_column(container) -> dict[str, str]:
    """Return the `kept (rollback)` column of `upare projections status`, by projection."""
    result = CliRunner().invoke(
        app,
        ["projections", "status"],
        env={
            "UPARE_DATA_DIR": str(container.settings.data_dir),
            "UPARE_DATABASE_URL": container.settings.database_url,
            "COLUMNS": "200",  # one line a projection
        },
    )
    assert result.exit_code == 0, result.output
    cells = [line.split("│") for line in result.output.splitlines() if line.count("│") == 8]
    return {row[1].strip(): row[7].strip() for row in cells}


def test_status_shows_the_kept_generation_and_that_a_rollback_can_switch_to_it(container, cli):
    save_users(container.app, 10001)
    project(container)
    assert kept_column(container)["users"] == "-"

    cli("projections", "rebuild", "users", "--keep")

    kept = kept_column(container)
    assert kept["users"] == "1 (can roll back)"
    assert {kept[cls.name] for cls in PROJECTIONS if cls is not UsersProjection} == {"-"}


def test_status_says_when_the_kept_generation_is_of_another_version(container, shouting):
    save_users(container.app, 10001)
    project(container)
    rebuild(container.log, container.db, ShoutingUsers, keep=True)  # keeps the old version's

    assert kept_column(container)["users"] == (
        f"1 (built by v{UsersProjection.version}: cannot roll back)"
    )
