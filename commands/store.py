"""The write application: the event store, aggregate loading and atomic saves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from domain.users import FIRST_UID, index_id, user_id


@dataclass(frozen=True)
class Done:
    """What a command answers: the global position of its last event and its own fields."""

    position: int
    fields: dict[str, Any] = field(default_factory=dict)


class EventStore(Application[UUID]):
    """Upare's event-sourced write side (eventsourcing on SQLite or PostgreSQL)."""

    name = "upare"

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self._next_uid: int | None = None

    def record(self, *aggregates: Aggregate) -> Done:
        """Save the new events of these aggregates in one transaction; return their position."""
        recordings = self.save(*aggregates)
        return Done(position=max(rec.notification.id for rec in recordings))

    def exists(self, aggregate_id: UUID) -> bool:
        """Tell whether any event was stored for this aggregate id."""
        return bool(self.recorder.select_events(aggregate_id, limit=1))

    def is_claimed(self, kind: str, value: str) -> bool:
        """Tell whether a unique value (username, email, ...) is claimed already."""
        return self.exists(index_id(kind, value))

    def next_uid(self) -> int:
        """Return a numeric uid that is free as far as this process can tell.

        Uids are dense (each is saved with its user, atomically), so the first free one is found
        by galloping then bisecting over the users' ids; a concurrent writer can still take it,
        which the caller sees as an IntegrityError and answers with `forget_uid()`.
        """
        if self._next_uid is None:
            self._next_uid = self._first_free_uid()
        uid, self._next_uid = self._next_uid, self._next_uid + 1
        return uid

    def forget_uid(self) -> None:
        """Drop the cached next uid, so the next call looks in the store again."""
        self._next_uid = None

    def _first_free_uid(self) -> int:
        taken, step = FIRST_UID - 1, 1
        while self.exists(user_id(taken + step)):
            taken, step = taken + step, step * 2
        free = taken + step
        while free - taken > 1:
            middle = (taken + free) // 2
            taken, free = (middle, free) if self.exists(user_id(middle)) else (taken, middle)
        return free
