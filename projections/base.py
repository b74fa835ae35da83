"""What every projection is: the events it handles, its tables, its generation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from projections import outbox
from projections.database import Transaction


@dataclass(frozen=True)
class EventRecord:
    """One stored event as the read side sees it, whichever feed brought it."""

    position: int
    originator_id: str
    version: int
    type: str  # the event class's qualified name, e.g. "User.Registered"
    timestamp: datetime
    data: dict[str, Any]


Handler = Callable[[Any, Transaction, EventRecord], None]


def handles(event_type: str) -> Callable[[Handler], Handler]:
    """Mark a projection method as the handler of one event type."""

    def mark(method: Handler) -> Handler:
        method.handles = event_type  # type: ignore[attr-defined]
        return method

    return mark


class Projection:
    """One read model: its tables (prefixed with its name) and one handler per event type.

    A projection is built in generations: generation N writes `<name>_g<N>_<table>`, and
    readers read the views `<name>_<table>`, which point at the live generation.

    `replay` is True while a rebuild replays events the live generation has already handled.
    A projection with side effects (`has_side_effects = True`: mails, SMS) queues them with
    `send`, which writes nothing while `replay` is set: a rebuild never delivers.
    """

    name: ClassVar[str]
    tables: ClassVar[dict[str, str]]  # table: column definitions
    indexes: ClassVar[dict[str, list[str]]] = {}  # table: indexed column lists
    handlers: ClassVar[dict[str, Handler]]
    has_side_effects: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.handlers = {
            method.handles: method
            for method in vars(cls).values()
            if callable(method) and hasattr(method, "handles")
        }

    def __init__(self, generation: int = 1, *, replay: bool = False) -> None:
        self.generation = generation
        self.replay = replay

    def table(self, table: str) -> str:
        """Return the physical name of one of this generation's tables."""
        return f"{self.name}_g{self.generation}_{table}"

    @classmethod
    def view(cls, table: str) -> str:
        """Return the name readers use for one of this projection's tables."""
        return f"{cls.name}_{table}"

    def apply(self, tx: Transaction, event: EventRecord) -> None:
        """Change this projection's tables for one event it handles."""
        self.handlers[event.type](self, tx, event)

    def send(
        self, tx: Transaction, event: EventRecord, purpose: str, message: outbox.Message
    ) -> None:
        """Queue a message caused by this event, in this transaction (`projections.outbox`).

        Its key is this projection's name, the event's aggregate and version, and `purpose`
        (one event may cause several messages), so the same event never queues it twice.
        """
        if not self.has_side_effects:
            raise TypeError(f"{self.name} sends messages: declare has_side_effects = True")
        if not self.replay:
            key = outbox.key(self.name, event.originator_id, event.version, purpose)
            outbox.put(tx, key, message)
