"""Commands of the notification worker: record how a new friend's notification went.

The worker (`workers.notifier`) reads the outcome from the read side (the notices and their
outbox rows); these commands turn it into the friendship's own event, once per round: a
repeated or concurrent record finds the outcome recorded (`Friendship.awaits_outcome`) and
stores nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

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


def _friendship(app: WriteApplication, friendship_id: UUID) -> Friendship:
    """Load the friendship by one select; one with no events (a round of it read from the read
    side means a broken log) raises AggregateNotFoundError, as the repository's `get` does."""
    friendship = app.load(Friendship, friendship_id)
    if friendship is None:
        raise AggregateNotFoundError(friendship_id)
    return friendship


def record_friend_notified(command: RecordFriendNotified, *, app: WriteApplication) -> Done:
    """Record that the friend of this round was notified (inbox and, if any, mail)."""
    friendship = _friendship(app, command.friendship_id)
    if not friendship.awaits_outcome(command.round):
        return Done()
    friendship.notified(command.round)
    return app.record(friendship)


def record_notification_failed(command: RecordNotificationFailed, *, app: WriteApplication) -> Done:
    """Record that this round's friend could not be notified, and tell its maker (204104),
    in one transaction: the maker's message exists exactly when the failure does."""
    friendship = _friendship(app, command.friendship_id)
    if not friendship.awaits_outcome(command.round):
        return Done()
    friendship.notification_failed(command.round, command.reason)
    return app.record(friendship, message(friendship.maker, NOTIFY_FAILED, 204104))
