"""Friendships on SQLite and on PostgreSQL: concurrent makes of one pair, the friends read
model through rounds and outcomes, and rebuilds of both read models."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from commands.friends import EndFriendship, MakeFriend
from commands.users import RegisterUser
from domain.errors import UpareError
from domain.friends import Friendship, friendship_id
from projections.friends import FriendsProjection
from projections.rebuild import rebuild
from projections.recommendations import RecommendationsProjection
from queries import friends
from tests.integration.feeds import project
from upare.bootstrap import bootstrap


def register(container, *names: str) -> list[int]:
    return [
        container.bus.execute(
            RegisterUser(username=name, password="correct horse", email=f"{name}@example.com")
        ).fields["uid"]
        for name in names
    ]


def snapshot(container, uids: list[int]) -> list[tuple[list, list]]:
    return [
        (friends.friends(container.db, uid), friends.recommendations(container.db, uid, 100))
        for uid in uids
    ]


def test_concurrent_makes_of_a_pair_from_both_sides_make_one_friendship(container):
    uids = register(container, "ann", "bob", "cat", "dan", "eve", "fay")
    pairs = list(zip(uids[::2], uids[1::2], strict=True))  # three pairs, each made both ways
    sides = [side for low, high in pairs for side in ((low, high), (high, low))]
    processes = [bootstrap(container.settings) for _ in sides]
    start = threading.Barrier(len(sides))

    def attempt(process, side: tuple[int, int]) -> int:
        start.wait()
        try:
            process.bus.execute(MakeFriend(uid=side[0], fid=side[1]))
        except UpareError as ex:
            return ex.code
        return 0

    try:
        with ThreadPoolExecutor(len(sides)) as pool:
            codes = list(pool.map(attempt, processes, sides))
    finally:
        for process in processes:
            process.close()

    for n in range(len(pairs)):
        assert sorted(codes[2 * n : 2 * n + 2]) == [0, 204102]
    made = [e for e in container.log.read(0, 1000) if e.type == "Friendship.Made"]
    assert sorted(e.originator_id for e in made) == sorted(
        str(friendship_id(low, high)) for low, high in pairs
    )
    project(container)
    for low, high in pairs:
        assert [f["uid"] for f in friends.friends(container.db, low)] == [high]


def outcome(container, uid: int, fid: int, round: int, failed: bool) -> None:
    friendship: Friendship = container.app.repository.get(friendship_id(uid, fid))
    if failed:
        friendship.notification_failed(round, "refused")
    else:
        friendship.notified(round)
    container.app.save(friendship)


def test_the_friends_read_model_follows_rounds_and_their_outcomes(container):
    ann, bob = register(container, "ann", "bob")
    container.bus.execute(MakeFriend(uid=ann, fid=bob))
    outcome(container, ann, bob, 1, failed=True)
    project(container)
    assert [f["notified"] for f in friends.friends(container.db, bob)] == [False]

    container.bus.execute(EndFriendship(uid=bob, fid=ann))
    project(container)
    assert friends.friends(container.db, ann) == friends.friends(container.db, bob) == []

    remade = container.bus.execute(MakeFriend(uid=bob, fid=ann))
    assert remade.fields == {"round": 2}
    outcome(container, ann, bob, 1, failed=False)  # a late outcome of the first round
    project(container)
    [friend] = friends.friends(container.db, ann)
    assert (friend["uid"], friend["notified"]) == (bob, "pending")
    assert friends.outcome(container.db, ann, bob, 2) is None

    outcome(container, ann, bob, 2, failed=False)
    project(container)
    assert friends.outcome(container.db, bob, ann, 2) is True
    assert [f["notified"] for f in friends.friends(container.db, ann)] == [True]


def befriend_many(container) -> list[int]:
    """Store a small social graph with endings and remakings; return its uids."""
    uids = register(container, *[f"user{n}" for n in range(8)])
    pairs = [pair for pair in itertools.combinations(uids, 2) if sum(pair) % 3]
    for uid, fid in pairs:
        container.bus.execute(MakeFriend(uid=uid, fid=fid))
    for uid, fid in pairs[::4]:
        container.bus.execute(EndFriendship(uid=fid, fid=uid))
    for uid, fid in pairs[::8]:
        container.bus.execute(MakeFriend(uid=fid, fid=uid))
    outcome(container, *pairs[1], 1, failed=True)
    return uids


@pytest.mark.parametrize("cls", [FriendsProjection, RecommendationsProjection])
def test_a_rebuild_gives_the_same_friends_and_recommendations(container, cls):
    uids = befriend_many(container)
    project(container)
    before = snapshot(container, uids)
    assert any(found for _, found in before) and any(found for found, _ in before)

    done = rebuild(container.log, container.db, cls)

    assert done.generation == 2 and done.events > 0
    assert snapshot(container, uids) == before


def test_upare_projections_rebuild_recommendations_keeps_the_counts(container, cli):
    uids = befriend_many(container)
    project(container)
    before = snapshot(container, uids)

    cli("projections", "rebuild", "recommendations")

    assert snapshot(container, uids) == before
