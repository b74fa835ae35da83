"""Queries on friendships, answered from the friends and recommendations read models joined
with the users read model's profiles."""

from __future__ import annotations

import time
from typing import Any

from projections.database import ReadDB, Reader, Wakeup
from projections.friends import FriendsProjection
from projections.recommendations import RecommendationsProjection
from queries.users import PROFILES, avatar_urls

FRIENDS = FriendsProjection.view("list")
MUTUAL = RecommendationsProjection.view("mutual")
ADJACENCY = RecommendationsProjection.view("adjacency")
NOTIFIED = {None: "pending", 1: True, 0: False}
MAX_RECOMMENDATIONS = 100


def friends(db: Reader, uid: int) -> list[dict[str, Any]]:
    """Return a user's friends by uid: nickname, avatar URLs, since when, and whether the
    friend was notified of the latest making (true, false or "pending")."""
    rows = db.fetchall(
        f"SELECT f.friend, p.nickname, p.avatar, f.since, f.notified FROM {FRIENDS} f"
        f" JOIN {PROFILES} p ON p.uid = f.friend WHERE f.uid = ? ORDER BY f.friend",
        (uid,),
    )
    return [
        {
            "uid": friend,
            "nickname": nickname,
            "avatar": avatar_urls(friend, avatar),
            "since": since,
            "notified": NOTIFIED[notified],
        }
        for friend, nickname, avatar, since, notified in rows
    ]


def recommendations(db: Reader, uid: int, limit: int) -> list[dict[str, Any]]:
    """Return up to `limit` friends of a user's friends, neither the user nor a friend, most
    friends in common first, then by uid; each with `mutual`, the count in common."""
    rows = db.fetchall(  # each pair is counted once, the user its low or its high uid
        f"SELECT m.candidate, p.nickname, p.avatar, m.count FROM (SELECT high AS candidate,"
        f" count FROM {MUTUAL} WHERE low = ? UNION ALL SELECT low, count FROM {MUTUAL}"
        f" WHERE high = ?) m JOIN {PROFILES} p ON p.uid = m.candidate WHERE NOT EXISTS"
        f" (SELECT 1 FROM {ADJACENCY} a WHERE a.uid = ? AND a.friend = m.candidate)"
        " ORDER BY m.count DESC, m.candidate LIMIT ?",
        (uid, uid, uid, min(limit, MAX_RECOMMENDATIONS)),
    )
    return [
        {"uid": other, "nickname": nickname, "avatar": avatar_urls(other, avatar), "mutual": count}
        for other, nickname, avatar, count in rows
    ]


def outcome(db: ReadDB, uid: int, fid: int, round: int) -> bool | None:
    """Return whether `fid` was notified of this round of their friendship with `uid`, or
    None while it is pending (or the read model does not show that round)."""
    row = db.fetchone(
        f"SELECT notified FROM {FRIENDS} WHERE uid = ? AND friend = ? AND round = ?",
        (uid, fid, round),
    )
    return None if row is None or row[0] is None else bool(row[0])


def wait_for_outcome(
    db: ReadDB, uid: int, fid: int, round: int, timeout: float, wakeup: Wakeup
) -> bool | None:
    """Wait, at most `timeout` seconds, until the friends read model shows this round's
    outcome (`outcome`), woken by projection progress; return it, or None if still pending."""
    deadline = time.monotonic() + timeout
    while True:
        mark = wakeup.mark()
        found = outcome(db, uid, fid, round)
        remaining = deadline - time.monotonic()
        if found is not None or remaining <= 0:
            return found
        wakeup.wait(mark, remaining)
