"""What every projection is: its version, the event classes it handles, its tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from eventsourcing.domain import DomainEvent
from eventsourcing.utils import resolve_topic

from projections import outbox
from projections.database import ReadDB, Transaction
from projections.events import EventRecord

Handler = Callable[[Any, Transaction, EventRecord], None]


def handles(event_class: type[DomainEvent]) -> Callable[[Handler], Handler]:
    """Mark a projection method as the handler of one event class (and of its subclasses)."""
    if not (isinstance(event_class, type) and issubclass(event_class, DomainEvent)):
        raise TypeError(f"@handles takes a domain event class, not {event_class!r}")

    def mark(method: Handler) -> Handler:
        method.handles = event_class  # type: ignore[attr-defined]
        return method

    return mark


class Projection:
    """One read model: its tables (prefixed with its name) and one handler per event class.

    A projection is built in generations: generation N writes `<name>_g<N>_<table>`, and
    readers read the views `<name>_<table>`, which point at the live generation. `version`
    says what its handlers and tables are: a projection new to a deployment, or whose version
    changed, is built from the event store before it counts as caught up
    (`projections.lifecycle`).

    `replay` is True while a rebuild replays events the live generation has already handled.
    A projection with side effects (`has_side_effects = True`: mails, SMS) queues them with
    `send`, which writes nothing while `replay` is set: a rebuild never delivers.

    `after` names the projections whose tables this one reads while it handles an event: the
    feeds give it an event only once those have passed its position (outside any
    transaction), so what it reads there is never older than the event.
    """

    name: ClassVar[str]
    version: ClassVar[int] = 1
    tables: ClassVar[dict[str, str]]  # table: column definitions
    indexes: ClassVar[dict[str, list[str]]] = {}  # table: indexed column lists
    handlers: ClassVar[dict[type, Handler]]  # event class: handler
    has_side_effects: ClassVar[bool] = False
    after: ClassVar[tuple[str, ...]] = ()  # projections read while handling (see above)
    _by_topic: ClassVar[dict[str, type | None]]  # event topic: the class whose handler runs

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.handlers = {}
        for klass in reversed(cls.__mro__):  # a subclass inherits, and may override, handlers
            for method in vars(klass).values():
                if callable(method) and hasattr(method, "handles"):
                    cls.handlers[method.handles] = method
        cls._by_topic = {}

    def __init__(self, generation: int = 1, *, replay: bool = False) -> None:
        self.generation = generation
        self.replay = replay
        self.bulk = False  # see `derive`

    def derive(self, db: ReadDB) -> None:
        """Compute, set-wise, the tables this projection derives from its others.

        While a rebuild loads a generation nobody reads yet, it sets `bulk`; a projection
        whose handlers keep a table derived from its other tables (recommendations' counts
        from its adjacency) may then skip that table per event, and compute it whole here,
        once the load is done: one statement instead of one per event. Its transactions
        may commit lazily (`Transaction.commit_lazily`): the switch's commit is durable.
        Nothing by default.
        """

    @classmethod
    def handler(cls, topic: str) -> Handler | None:
        """Return the handler of an event of this topic: its class's, or its nearest base's."""
        if topic not in cls._by_topic:
            try:
                event_class = resolve_topic(topic)
            except Exception:  # an event class this code no longer has: nothing to handle
                event_class = object
            cls._by_topic[topic] = next(
                (base for base in event_class.__mro__ if base in cls.handlers), None
            )
        handled = cls._by_topic[topic]
        return None if handled is None else cls.handlers[handled]

    @classmethod
    def wants(cls, topic: str) -> bool:
        """Tell whether this projection handles events of this topic."""
        return cls.handler(topic) is not None

    def table(self, table: str) -> str:
        """Return the physical name of one of this generation's tables."""
        return f"{self.name}_g{self.generation}_{table}"

    @classmethod
    def view(cls, table: str) -> str:
        """Return the name readers use for one of this projection's tables."""
        return f"{cls.name}_{table}"

    def apply(self, tx: Transaction, event: EventRecord) -> None:
        """Change this projection's tables for one event it handles."""
        handler = self.handler(event.topic)
        assert handler is not None, f"{self.name} does not handle {event.topic}"
        handler(self, tx, event)

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
