"""Commands of the notification worker: record how a new friend's notification went.

The worker (`workers.notifier`) reads the outcome from the read side (the notices and their
outbox rows); these commands turn it into the friendship's own event, once per round: a
repeated or concurrent record finds the outcome recorded (`Friendship.awaits_outcome`) and
stores nothing (nor does one of a friendship that has no events).
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from commands.application import Done, WriteApplication
from commands.inbox import message
from domain.friends import NOTIFY_FAILED, Friendship


@dataclass(frozen=True, kw_only=True)
class RecordFriendNotified:
    friendship_id: UUID
    round: int


@dataclass(frozen=True, kw_only=True)
class RecordNotificationFailed:
    friendship_id: UUID
    round: int
    reason: str


def record_friend_notified(command: RecordFriendNotified, *, app: WriteApplication) -> Done:
    """Record that the friend of this round was notified (inbox and, if any, mail)."""
    friendship = app.load(Friendship, command.friendship_id)
    if friendship is None or not friendship.awaits_outcome(command.round):
        return Done()
    friendship.notified(command.round)
    return app.record(friendship)


def record_notification_failed(command: RecordNotificationFailed, *, app: WriteApplication) -> Done:
    """Record that this round's friend could not be notified, and tell its maker (204104),
    in one transaction: the maker's message exists exactly when the failure does."""
    friendship = app.load(Friendship, command.friendship_id)
    if friendship is None or not friendship.awaits_outcome(command.round):
        return Done()
    friendship.notification_failed(command.round, command.reason)
    return app.record(friendship, message(friendship.maker, NOTIFY_FAILED, 204104))
