"""Commands on friendships: make a friend, end a friendship (CONTRACT section 8).

Both sides of a pair load the one aggregate `friendship_id` names, so two users befriending
each other at once both create it: one save fails on its version, and the bus runs that
command again, which then finds them friends (204102).
"""

from __future__ import annotations

from dataclasses import dataclass

from commands.application import Done, WriteApplication
from commands.users import check_user
from domain.errors import UpareError
from domain.friends import Friendship, check_pair, friendship_id
from domain.users import user_id


def _friendship(app: WriteApplication, uid: int, fid: int) -> Friendship | None:
    """Return the pair's friendship, standing or ended, after checking the pair: 100004 for
    oneself, 202001 when `fid` is no user (or was erased)."""
    check_pair(uid, fid)
    friendship, topics = app.load_with_topics(Friendship, friendship_id(uid, fid), user_id(fid))
    check_user(topics)
    return friendship


@dataclass(frozen=True, kw_only=True)
class MakeFriend:
    uid: int
    fid: int


def make_friend(command: MakeFriend, *, app: WriteApplication) -> Done:
    """Make `fid` the caller's friend, mutual at once; 204102 when they are friends already.

    Answers `round`, the making its notification belongs to (friendmake's `wait`).
    """
    friendship = _friendship(app, command.uid, command.fid)
    if friendship is None:
        friendship = Friendship.make(command.uid, command.fid)
    else:
        friendship.make_again(command.uid)
    return app.record(friendship, round=friendship.round)


@dataclass(frozen=True, kw_only=True)
class EndFriendship:
    uid: int
    fid: int


def end_friendship(command: EndFriendship, *, app: WriteApplication) -> Done:
    """End the caller's friendship with `fid`, for both; 204103 when they are not friends."""
    friendship = _friendship(app, command.uid, command.fid)
    if friendship is None:
        raise UpareError(204103)
    friendship.end(command.uid)
    return app.record(friendship)
