"""A rebuild's fast path (pages read ahead, writes batched, pipelined and COPY-ed into the new
generation, keys fetched a page at a time) builds what the feeds built, row for row."""

from __future__ import annotations

import logging

import pytest

from commands.erasure import EraseUser
from commands.users import load_user
from domain.friends import Friendship
from domain.users import User
from projections import catalog, copier
from projections.apply import Retry
from projections.base import Projection, handles
from projections.database import Transaction
from projections.events import EventRecord
from projections.friends import FriendsProjection
from projections.rebuild import rebuild
from projections.recommendations import RecommendationsProjection
from projections.users import UsersProjection
from tests.integration.feeds import project
from tests.integration.test_rebuild import from_scratch, live_rows, save_users
from upare import vault as vault_module

SOCIAL = [UsersProjection, FriendsProjection, RecommendationsProjection]


def history(container) -> None:
    """Store users, their changes and a web of friendships made, ended, made again and
    notified, and one erasure: every handler of the three projections runs."""
    save_users(container.app, 10001, 40, per_save=9)
    for uid in range(10001, 10041, 3):
        user = load_user(container.app, uid)
        user.change_nickname(f"nick{uid}")
        user.change_details({"city": f"c{uid}"})
        container.app.record(user)
    friendships = [
        Friendship.make(a, b) for a in range(10001, 10016) for b in range(a + 1, a + 6) if b < 10041
    ]
    container.app.save(*friendships)
    for friendship in friendships[::4]:
        friendship.end(friendship.low)
    for friendship in friendships[::8]:
        friendship.make_again(friendship.high)
    for friendship in friendships[1::5]:
        friendship.notified(friendship.round)
    container.app.save(*friendships)
    container.bus.execute(EraseUser(uid=10003))


@pytest.mark.parametrize("cls", SOCIAL, ids=lambda cls: cls.name)
def test_a_rebuild_in_small_pages_equals_the_live_generation_row_for_row(
    container, monkeypatch, cls
):
    history(container)
    project(container)
    monkeypatch.setattr(copier, "PAGE", 7)  # many pages: each read ahead of its write

    done = rebuild(container.log, container.db, cls, verify=True)

    assert done.comparison is not None and done.comparison.matches
    assert done.events == container.log.head()
    with container.db.transaction(write=False) as tx:
        assert catalog.live_generation(tx, cls.name) == 2
    for table in cls.tables:
        assert sorted(live_rows(container, cls, table)) == sorted(
            from_scratch(container, cls, table)
        )


def tracked(container, cls, generation: int) -> list[tuple[str, int]]:
    return sorted(
        (str(row[0]), int(row[1]))
        for row in container.db.fetchall(
            "SELECT originator_id, version FROM projection_tracking"
            " WHERE projection = ? AND generation = ?",
            (cls.name, generation),
        )
    )


def test_a_rebuild_tracks_each_aggregate_at_its_last_version_as_the_feeds_did(
    container, monkeypatch
):
    """Aggregates made in one page and changed in later ones: each page sets its versions
    aside, the load's end records each aggregate's last once, none is left behind."""
    history(container)
    project(container)
    before = tracked(container, FriendsProjection, 1)
    monkeypatch.setattr(copier, "PAGE", 5)

    rebuild(container.log, container.db, FriendsProjection)

    assert tracked(container, FriendsProjection, 2) == before
    assert any(version > 1 for _, version in before)  # some were changed after their making
    assert container.db.fetchone("SELECT count(*) FROM projection_loading") == (0,)


class Halves(Projection):
    """A projection whose INSERTs skip conflicts: two users share each row (uid // 2)."""

    name = "halves"
    tables = {"rows": "half BIGINT PRIMARY KEY, uid BIGINT NOT NULL"}

    @handles(User.Registered)
    def registered(self, tx: Transaction, event: EventRecord) -> None:
        tx.execute(
            f"INSERT INTO {self.table('rows')} (half, uid) VALUES (?, ?)"
            " ON CONFLICT (half) DO NOTHING",
            (event.data["uid"] // 2, event.data["uid"]),
        )


def test_a_page_whose_copy_conflicts_is_applied_again_statement_by_statement(container, caplog):
    catalog.install(container.db, [Halves], container.log.head())
    save_users(container.app, 10001, 30)
    project(container, [Halves])
    before = live_rows(container, Halves, "rows")

    with caplog.at_level(logging.WARNING, "projections.rebuild"):
        done = rebuild(container.log, container.db, Halves)

    assert done.events == 60
    assert live_rows(container, Halves, "rows") == before == from_scratch(container, Halves, "rows")
    assert len(before) == 16  # uids 10001-10030 halved
    fell_back = "a batched page failed" in caplog.text
    assert fell_back == (container.db.dialect == "postgres")  # SQLite has no COPY to fail


class LateHalves(Projection):
    """Users from 10021 share rows (uid // 2) and skip conflicts; a nickname updates its row."""

    name = "late_halves"
    tables = {"rows": "half BIGINT PRIMARY KEY, user_id TEXT NOT NULL, nickname TEXT"}

    @handles(User.Registered)
    def registered(self, tx: Transaction, event: EventRecord) -> None:
        uid = event.data["uid"]
        tx.execute(
            f"INSERT INTO {self.table('rows')} (half, user_id, nickname) VALUES (?, ?, ?)"
            " ON CONFLICT (half) DO NOTHING",
            (uid if uid < 10021 else uid // 2, event.originator_id, None),
        )

    @handles(User.NicknameChanged)
    def nickname_changed(self, tx: Transaction, event: EventRecord) -> None:
        tx.execute(
            f"UPDATE {self.table('rows')} SET nickname = ? WHERE user_id = ?",
            (f"v{event.version}", event.originator_id),
        )


def test_a_page_applied_statement_by_statement_after_others_set_versions_aside(
    container, monkeypatch
):
    """The load sets its first pages' versions aside; a later page whose COPY conflicts is
    applied statement by statement, looking versions up: those set aside are recorded first,
    and the aggregates changed after it end at their last version, recorded once."""
    catalog.install(container.db, [LateHalves], container.log.head())
    save_users(container.app, 10001, 30, per_save=10)
    for uid in range(10001, 10006):
        user = load_user(container.app, uid)
        user.change_nickname(f"nick{uid}")
        container.app.record(user)
    project(container, [LateHalves])
    before = tracked(container, LateHalves, 1)
    monkeypatch.setattr(copier, "PAGE", 10)

    done = rebuild(container.log, container.db, LateHalves)

    assert done.events == container.log.head()
    assert tracked(container, LateHalves, 2) == before
    assert {version for _, version in before} == {1, 2}
    assert live_rows(container, LateHalves, "rows") == from_scratch(container, LateHalves, "rows")
    assert container.db.fetchone("SELECT count(*) FROM projection_loading") == (0,)


def test_a_rebuild_decodes_only_the_events_its_projection_handles(container, monkeypatch):
    history(container)
    project(container)
    monkeypatch.setattr(copier, "PAGE", 7)  # pages of accounts' events alone, too
    log, decoded = container.log, []
    decode = log.decode
    monkeypatch.setattr(
        log, "decode", lambda stored: decoded.append(stored.topic) or decode(stored)
    )

    done = rebuild(log, container.db, FriendsProjection, verify=True)

    assert done.comparison is not None and done.comparison.matches
    assert done.position == done.events == log.head()  # every event read, to the last
    wanted = [
        stored.topic for stored in log.page(0, log.head()) if FriendsProjection.wants(stored.topic)
    ]
    assert decoded == wanted  # each once, and none of the accounts' events
    assert 0 < len(wanted) < log.head()


def test_a_page_of_events_asks_the_key_table_once(container, monkeypatch):
    save_users(container.app, 10001, 20)
    container.bus.execute(EraseUser(uid=10002))
    vault = container.log.mapper.vault
    vault._cache.clear()  # as in a process that never read these people's data
    asked: list[str] = []
    monkeypatch.setattr(vault.keys, "get", lambda owner: asked.append(owner))
    events = container.log.read(0, 1000)

    registered = [event for event in events if event.type == "User.Registered"]
    assert len(registered) == 20
    assert [event.data["personal"] is None for event in registered].count(True) == 1
    assert all(
        event.data["personal"]["email"] for event in registered if event.data["uid"] != 10002
    )
    assert len(asked) <= 2  # only the erased person's key is looked for again, and not found


def test_the_keys_kept_in_memory_are_bounded_and_every_page_still_opens(container, monkeypatch):
    save_users(container.app, 10001, 20)
    vault = container.log.mapper.vault
    vault._cache.clear()
    monkeypatch.setattr(vault_module, "CACHE_KEYS", 5)

    events = container.log.read(0, 1000)

    assert len(vault._cache) <= 5
    emails = [
        event.data["personal"]["email"] for event in events if event.type == "User.Registered"
    ]
    assert emails == [f"u{uid}@x.io" for uid in range(10001, 10021)]


class Touchy(Projection):
    """Counts each user's events; fails on the registration of uid 10003."""

    name = "touchy"
    tables = {"seen": "user_id TEXT PRIMARY KEY, events INTEGER NOT NULL"}

    @handles(User.Registered)
    def registered(self, tx: Transaction, event: EventRecord) -> None:
        if event.data["uid"] == 10003:
            raise ValueError("cannot handle this one")
        tx.execute(
            f"INSERT INTO {self.table('seen')} (user_id, events) VALUES (?, 1)",
            (event.originator_id,),
        )

    @handles(User.NicknameChanged)
    def renamed(self, tx: Transaction, event: EventRecord) -> None:
        tx.execute(
            f"UPDATE {self.table('seen')} SET events = events + 1 WHERE user_id = ?",
            (event.originator_id,),
        )


def test_a_later_page_of_a_parked_aggregate_waits_behind_it(container, monkeypatch):
    """A load that parked an event stops taking its pages as new to everyone: the parked
    user's later event, pages on, waits behind it instead of being applied."""
    catalog.install(container.db, [Touchy], container.log.head())
    save_users(container.app, 10001, 6)
    for uid in (10002, 10003):
        user = load_user(container.app, uid)
        user.change_nickname(f"nick{uid}")
        container.app.record(user)
    monkeypatch.setattr(copier, "PAGE", 3)  # the renames come pages after the failure

    rebuild(container.log, container.db, Touchy, retry=Retry(1, 0.001))

    rows = container.db.fetchall(
        "SELECT status FROM projection_dead_letters WHERE projection = 'touchy' ORDER BY position"
    )
    assert [row[0] for row in rows] == ["parked", "waiting"]
    assert sorted(events for _, events in live_rows(container, Touchy, "seen")) == [1, 1, 1, 1, 2]


def test_recommendations_rebuilt_in_bulk_keep_counting_live(container):
    """The counts derived after the load sit in a table with its key again: the live feed's
    upserts of later friendships count on from them."""
    history(container)
    project(container)
    rebuild(container.log, container.db, RecommendationsProjection)
    container.app.save(Friendship.make(10020, 10030), Friendship.make(10021, 10030))

    project(container)

    assert sorted(live_rows(container, RecommendationsProjection, "mutual")) == sorted(
        from_scratch(container, RecommendationsProjection, "mutual")
    )
