"""Properties of the friends and recommendations read models (hypothesis, on SQLite): over any
sequence of friendships made, ended and made again, of notification outcomes recorded for the
current round or the one before, and of people erased, the adjacency is the standing
friendships, the incremental mutual-friend counts equal a brute-force count, the ranking is the
brute-force ranking, and the friends lists are the standing friendships, each with its round's
latest outcome; the same holds when the events are applied as a rebuild applies them (one
batched transaction, outcomes folded in and the adjacency settled after), from nothing or after
the first of them were applied one by one (as a rollback catches up the generation it goes back
to)."""

from __future__ import annotations

import itertools
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from eventsourcing.utils import get_topic
from hypothesis import example, given, settings
from hypothesis import strategies as st

from domain.friends import Friendship
from domain.users import User
from projections import catalog
from projections.apply import apply_batch
from projections.batched import Batched
from projections.events import EventRecord
from projections.friends import FriendsProjection
from projections.recommendations import RecommendationsProjection
from projections.sqlite import SqliteDB
from projections.users import UsersProjection
from queries import friends

UIDS = range(10001, 10008)
NOTIFIED = {None: "pending", True: True, False: False}  # as `friends` answers an outcome
PROJECTIONS = [FriendsProjection(), RecommendationsProjection()]
pairs = st.tuples(st.sampled_from(UIDS), st.sampled_from(UIDS)).filter(lambda p: p[0] != p[1])
# a pair toggled (None), or an outcome (notified or not) recorded for its round, or the one before
steps = st.tuples(pairs, st.sampled_from([None, True, False]), st.integers(0, 1))
# and now and then a person erased (a uid at an index of the steps): their friendships go,
# and no later step of theirs comes
erasures = st.lists(st.tuples(st.integers(0, 40), st.sampled_from(UIDS)), max_size=2)
Step = tuple[tuple[int, int], bool | None, int] | int
ERASED = get_topic(User.Erased)
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def records(aggregate: Friendship) -> list[EventRecord]:
    """Return the aggregate's new events as a feed brings them (positions given later)."""
    found = []
    for event in aggregate.collect_events():
        data = {
            name: value
            for name, value in vars(event).items()
            if name not in ("originator_id", "originator_version", "timestamp", "originator_topic")
        }
        found.append(
            EventRecord(
                0,
                str(event.originator_id),
                event.originator_version,
                get_topic(type(event)),
                event.timestamp,
                data,
            )
        )
    return found


def history(
    steps: list[Step],
) -> tuple[list[EventRecord], dict[int, set[int]], dict[frozenset[int], bool | None]]:
    """Make or end each pair in turn (end it if it stands, else make it, again if it ended),
    from the side given, or record an outcome of one of its rounds, or erase a person (a uid);
    return the events, who is whose friend at the end, and the outcome each standing round's
    rows show."""
    standing: dict[frozenset[int], Friendship] = {}
    adjacency: dict[int, set[int]] = {uid: set() for uid in UIDS}
    shown: dict[frozenset[int], bool | None] = {}
    events: list[EventRecord] = []
    erased: set[int] = set()
    for step in steps:
        if isinstance(step, int):
            if step not in erased:
                erased.add(step)
                for friend in adjacency.pop(step):
                    adjacency[friend].discard(step)
                events.append(EventRecord(0, f"user-{step}", 9, ERASED, EPOCH, {"uid": step}))
            continue
        (uid, fid), outcome, back = step
        if erased & {uid, fid}:
            continue  # the commands refuse an erased person's friendships
        key = frozenset((uid, fid))
        friendship = standing.get(key)
        if outcome is not None:
            if friendship is None:
                continue
            round = max(1, friendship.round - back)
            if outcome:
                friendship.notified(round)
            else:
                friendship.notification_failed(round, "no inbox")
            if friendship.active and round == friendship.round:  # its rows show it
                shown[key] = outcome
        elif friendship is None:
            friendship = standing[key] = Friendship.make(uid, fid)
            shown[key] = None
        elif friendship.active:
            friendship.end(uid)
        else:
            friendship.make_again(uid)
            shown[key] = None
        if friendship.active:
            adjacency[uid].add(fid), adjacency[fid].add(uid)
        else:
            adjacency[uid].discard(fid), adjacency[fid].discard(uid)
        events += records(friendship)
    return (
        [
            EventRecord(n, e.originator_id, e.version, e.topic, e.timestamp, e.data)
            for n, e in enumerate(events, 1)
        ],
        {uid: adjacency.get(uid, set()) for uid in UIDS},
        shown,
    )


def read_models(folder: str, name: str) -> SqliteDB:
    db = SqliteDB(Path(folder) / f"{name}.sqlite3")
    catalog.install(db, [UsersProjection, FriendsProjection, RecommendationsProjection], 0)
    with db.transaction() as tx:
        for uid in UIDS:
            tx.execute(
                f"INSERT INTO {UsersProjection().table('profiles')} (uid, user_id, username,"
                " username_key, nickname, email, email_key, email_verified, phone_verified,"
                " avatar, details, registered_at) VALUES (?, ?, ?, ?, ?, '', '', 0, 0, '{}',"
                " '{}', '')",
                (uid, str(uid), f"u{uid}", f"u{uid}", f"u{uid}"),
            )
    return db


def brute_counts(adjacency: dict[int, set[int]]) -> dict[tuple[int, int], int]:
    """Return each two users' friends in common, once a pair (low, high), where they have any."""
    return {
        (low, high): len(adjacency[low] & adjacency[high])
        for low, high in itertools.combinations(UIDS, 2)
        if adjacency[low] & adjacency[high]
    }


def brute_ranking(adjacency: dict[int, set[int]], uid: int) -> list[tuple[int, int]]:
    counts = brute_counts(adjacency)
    ranked = [
        (other, counts[min(uid, other), max(uid, other)])
        for other in UIDS
        if (min(uid, other), max(uid, other)) in counts and other not in adjacency[uid]
    ]
    return sorted(ranked, key=lambda found: (-found[1], found[0]))


def check(
    db: SqliteDB, adjacency: dict[int, set[int]], shown: dict[frozenset[int], bool | None]
) -> None:
    mutual = RecommendationsProjection.view("mutual")
    sides = db.fetchall(f"SELECT uid, friend FROM {RecommendationsProjection.view('adjacency')}")
    assert sorted(sides) == sorted((uid, friend) for uid in UIDS for friend in adjacency[uid])
    rows = db.fetchall(f"SELECT low, high, count FROM {mutual}")
    assert {(low, high): count for low, high, count in rows} == brute_counts(adjacency)
    for uid in UIDS:
        ranked = friends.recommendations(db, uid, 100)
        assert [(user["uid"], user["mutual"]) for user in ranked] == brute_ranking(adjacency, uid)
        assert [(friend["uid"], friend["notified"]) for friend in friends.friends(db, uid)] == [
            (friend, NOTIFIED[shown[frozenset((uid, friend))]]) for friend in sorted(adjacency[uid])
        ]


AB, BC = ((10001, 10002), None, 0), ((10002, 10003), None, 0)  # a toggle of each pair


@settings(max_examples=200, deadline=None)
@given(st.lists(steps, max_size=40), erasures, st.integers(0, 40))
# a making, ending and making again in the load; the load catching up on a making again, on an
# ending; an erasure in the load of a person with friendships made before it and in it
@example([AB, AB, AB], [], 0)
@example([AB, AB, AB], [], 2)
@example([AB, AB, BC], [], 1)
@example([AB, BC, AB, AB], [(4, 10002)], 1)
def test_counts_and_rankings_match_a_brute_force_count(steps, erasures, applied):
    for at, uid in sorted(erasures, reverse=True):
        steps.insert(at, uid)
    events, adjacency, shown = history(steps)
    with tempfile.TemporaryDirectory() as folder:
        live, rebuilt = read_models(folder, "live"), read_models(folder, "rebuilt")
        for db, one_by_one in ((live, events), (rebuilt, events[:applied])):
            for event in one_by_one:  # as the feeds apply them: a transaction per event here
                with db.transaction() as tx:
                    for projection in PROJECTIONS:
                        apply_batch(tx, projection, [event])
        with rebuilt.transaction() as tx:  # as a rebuild loads: batched, counts derived after
            batched = Batched(tx, copy=True)
            for projection in PROJECTIONS:
                projection.bulk = True
                apply_batch(batched, projection, events[applied:])  # type: ignore[arg-type]
                projection.bulk = False
            batched.flush()
        for projection in PROJECTIONS:
            projection.derive(rebuilt)
        check(live, adjacency, shown)
        check(rebuilt, adjacency, shown)
        live.close(), rebuilt.close()
