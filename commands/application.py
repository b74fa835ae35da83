"""The write application: the event store, aggregate loading and atomic saves."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate, DomainEventProtocol, MutableOrImmutableAggregate
from eventsourcing.persistence import Mapper, Recording, StoredEvent
from eventsourcing.utils import get_topic

from domain.users import claim_id
from upare.personal import PersonalMapper
from upare.settings import Settings
from upare.transcoder import Transcoder
from upare.vault import MemoryKeys, Vault, derive

A = TypeVar("A", bound=Aggregate)


@dataclass(frozen=True)
class Done:
    """What a command answers: its own fields and, when it stored events, the global position
    of its last one (a command that stores nothing, such as a login, has none)."""

    position: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)


class Topics(ABC):
    """A recorder that reads, in one select, an aggregate's stored events and another's
    stored topics alone (the store's, on PostgreSQL and SQLite)."""

    @abstractmethod
    def select_events_and_topics(
        self, originator_id: UUID, topics_of: UUID
    ) -> tuple[list[StoredEvent], list[str]]:
        """Return the events of `originator_id` and the topics of the events of `topics_of`,
        each in its aggregate's order."""


class WriteApplication(Application[UUID]):
    """Upare's event-sourced write side (eventsourcing on SQLite or PostgreSQL).

    Its mapper seals personal data with the `vault` (`upare.personal`); claims on unique
    values are keyed by an HMAC under `secret_key` (`domain.users.claim_id`). Without a vault
    (eventsourcing's in-memory store, in tests) the keys are kept in memory.
    """

    name = "upare"
    mapper: PersonalMapper

    def __init__(
        self,
        env: dict[str, str] | None = None,
        vault: Vault | None = None,
        secret_key: str = Settings.secret_key,
    ) -> None:
        self.vault = vault or Vault(MemoryKeys(), secret_key)
        self.claims_key = derive(secret_key, "upare claims")
        super().__init__(env)

    def close(self) -> None:
        super().close()
        self.vault.close()

    def construct_transcoder(self) -> Transcoder:
        """eventsourcing's JSON format and transcodings, decoded by orjson (`upare.transcoder`)."""
        transcoder = Transcoder()
        self.register_transcodings(transcoder)
        return transcoder

    def construct_mapper(self) -> Mapper[UUID]:
        return PersonalMapper(super().construct_mapper(), self.vault)

    def claim_id(self, kind: str, value: str) -> UUID:
        """Return the id of the index entry that claims `value` for `kind` (keyed hash)."""
        return claim_id(self.claims_key, kind, value)

    def save(
        self,
        *objs: MutableOrImmutableAggregate[UUID] | DomainEventProtocol[UUID] | None,
        **kwargs: Any,
    ) -> list[Recording[UUID]]:
        """eventsourcing's `save`, an aggregate's events collected without first testing the
        aggregate against eventsourcing's runtime-checkable protocols (two such isinstance
        checks cost about 50 µs an aggregate: a test of every attribute each)."""
        processing: ProcessingEvent[UUID] = ProcessingEvent()
        for obj in objs:
            if isinstance(obj, Aggregate):
                processing.events.extend(obj.collect_events())
                processing.aggregates[obj.id] = obj
            else:
                processing.collect_events(obj)
        processing.saved_kwargs.update(kwargs)
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)
        self.notify(processing.events)  # eventsourcing's deprecated hook, as its save calls it
        return recordings

    def record(self, *aggregates: Aggregate, **fields: Any) -> Done:
        """Save the new events of these aggregates in one transaction; answer their position."""
        recordings = self.save(*aggregates)
        return Done(max(rec.notification.id for rec in recordings), fields)

    def load(self, kind: type[A], aggregate_id: UUID) -> A | None:
        """Return the aggregate of `kind` from its stored events, or None when it has none:
        one select, no exception (the repository's `get` raises one), no cache or snapshots
        (the application keeps neither), and no test of each event against a runtime-checkable
        protocol (eventsourcing's projector asserts one: about 50 µs an event)."""
        return self._aggregate(kind, aggregate_id, self.recorder.select_events(aggregate_id))

    def load_with_topics(
        self, kind: type[A], aggregate_id: UUID, topics_of: UUID
    ) -> tuple[A | None, list[str]]:
        """Return what `load` does, and the topics of the stored events of the aggregate
        `topics_of`, in its order, reading no state of those: one select on the store's
        recorders (eventsourcing's in-memory one, in unit tests, holds them all at hand)."""
        if isinstance(self.recorder, Topics):
            events, topics = self.recorder.select_events_and_topics(aggregate_id, topics_of)
        else:
            events = list(self.recorder.select_events(aggregate_id))
            topics = [stored.topic for stored in self.recorder.select_events(topics_of)]
        return self._aggregate(kind, aggregate_id, events), topics

    def _aggregate(
        self, kind: type[A], aggregate_id: UUID, events: Sequence[StoredEvent]
    ) -> A | None:
        """Return the aggregate of `kind` these stored events of `aggregate_id` make, if any."""
        aggregate = None
        for stored in events:
            event: Any = self.mapper.to_domain_event(stored)
            aggregate = event.mutate(aggregate)
        if aggregate is None:
            return None
        if not isinstance(aggregate, kind):
            raise TypeError(f"{aggregate_id} is no {kind.__name__}: {type(aggregate).__name__}")
        return aggregate

    def exists(self, aggregate_id: UUID) -> bool:
        """Tell whether any event was stored for this aggregate id."""
        return bool(self.recorder.select_events(aggregate_id, limit=1))

    def created_at(self, created: type[Aggregate.Created], position: int) -> Aggregate | None:
        """Return the aggregate whose `created` event is at this global position, if any.

        Clients know messages and to-do events by that position (the id their read models
        show), so a command finds the aggregate behind such an id here.
        """
        found = self.recorder.select_notifications(
            position, 1, stop=position, topics=[get_topic(created)]
        )
        if not found:
            return None
        aggregate: Aggregate = self.repository.get(UUID(str(found[0].originator_id)))
        return aggregate
