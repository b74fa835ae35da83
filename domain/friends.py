"""Friendships: one aggregate per pair of users, mutual from the moment it is made.

A pair has one id (`friendship_id`, the same whichever side asks), so two users befriending
each other at the same moment both try to create the same aggregate: the store keeps one and
the other command, run again, finds them friends already. A friendship that ended can be made
again; each making is a `round`, and the notification of the new friend belongs to its round.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import UpareError, invalid
from domain.users import NAMESPACE

NOTIFY_FAILED = "Failed to notify your friend"  # the text of the maker's 204104 message


def friendship_id(uid: int, other: int) -> UUID:
    """Return the id of the friendship of two users (the same for either order)."""
    low, high = sorted((uid, other))
    return uuid5(NAMESPACE, f"friendship:{low}:{high}")


def check_pair(uid: int, fid: int) -> None:
    """Refuse befriending (or unfriending) oneself: 100004, naming `fid`."""
    if uid == fid:
        raise invalid(fid="must be another user's uid")


class Friendship(Aggregate):
    """Two users who are friends (`active`), or were. `maker` made the current round."""

    class Made(Aggregate.Created):
        low: int
        high: int
        maker: int

    @staticmethod
    def create_id(low: int, high: int, **_: object) -> UUID:
        return friendship_id(low, high)

    @event(Made)
    def __init__(self, *, low: int, high: int, maker: int) -> None:
        self.low = low
        self.high = high
        self.maker = maker
        self.active = True
        self.round = 1
        self.outcome: str | None = None  # "notified" or "failed", once the notifier knows

    @classmethod
    def make(cls, maker: int, friend: int) -> Friendship:
        """Return a new friendship that `maker` made with `friend`."""
        check_pair(maker, friend)
        low, high = sorted((maker, friend))
        return cls(low=low, high=high, maker=maker)

    def friend_of(self, uid: int) -> int:
        """Return the other user of the pair."""
        return self.high if uid == self.low else self.low

    class Remade(Aggregate.Event):
        maker: int
        round: int

    def make_again(self, maker: int) -> None:
        """Make an ended friendship again (a new round); 204102 while it stands."""
        if self.active:
            raise UpareError(204102)
        self._remade(maker, self.round + 1)

    @event(Remade)
    def _remade(self, maker: int, round: int) -> None:
        self.maker = maker
        self.active = True
        self.round = round
        self.outcome = None

    class Ended(Aggregate.Event):
        by: int

    def end(self, by: int) -> None:
        """End the friendship; 204103 when it does not stand."""
        if not self.active:
            raise UpareError(204103)
        self._ended(by)

    @event(Ended)
    def _ended(self, by: int) -> None:
        self.active = False

    class FriendNotified(Aggregate.Event):
        round: int

    class FriendNotificationFailed(Aggregate.Event):
        round: int
        reason: str

    def awaits_outcome(self, round: int) -> bool:
        """Tell whether this round's notification outcome is still to be recorded."""
        return self.round == round and self.outcome is None

    @event(FriendNotified)
    def notified(self, round: int) -> None:
        self.outcome = "notified"

    @event(FriendNotificationFailed)
    def notification_failed(self, round: int, reason: str) -> None:
        self.outcome = "failed"
