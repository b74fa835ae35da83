"""Personal data in stored events: sealed with its person's key on the way in, opened (or read
as erased) on the way out, and old rows upcast to the events' current shape.

An event with a `personal` field (the User events and inbox messages, v2) is stored with that
field replaced by `sealed`: the field's JSON encrypted with the key of its person
(`upare.vault`): the event's `person` field when it has one (a message to a friend naming its
maker is sealed with the maker's key), else its originator (a user's own events). A `sealed` of
None is data sealed for a person already erased.
Every reader goes through this mapper: aggregate loading (`to_domain_event`), the read side's
event log and the Kafka feed (`read_state`, on the stored state the relay publishes as it is),
and the export. A `personal` of None means its person was erased: their key is gone.
"""

from __future__ import annotations

from functools import cache
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import resolve_topic

from upare.vault import Vault

SEALED = "sealed"
PERSONAL = "personal"
PERSON = "person"


@cache
def sealed_by_originator(topic: str) -> bool:
    """Tell whether events of this topic hold personal data sealed with their originator's
    key (a `personal` field and no `person`): the keys a reader of many events fetches ahead
    (`EventLog.page`). An event class this code no longer has may hold some: True."""
    try:
        fields = {
            name
            for klass in resolve_topic(topic).__mro__
            for name in vars(klass).get("__annotations__", {})
        }
    except Exception:
        return True
    return PERSONAL in fields and PERSON not in fields


def person(originator_id: str, state: dict[str, Any]) -> str:
    """Return whose key seals an event's personal data, as text: its `person`, else its
    originator (given as text)."""
    owner = state.get(PERSON)
    return str(owner) if owner else originator_id


class PersonalMapper(Mapper[UUID]):
    """eventsourcing's mapper, sealing and opening events' personal data with a `Vault`."""

    def __init__(self, base: Mapper[UUID], vault: Vault) -> None:
        super().__init__(base.transcoder, base.compressor, base.cipher)
        self.vault = vault

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        state = vars(domain_event)
        if PERSONAL not in state:
            return super().to_stored_event(domain_event)
        sealed = object.__new__(type(domain_event))
        personal = state[PERSONAL]
        owner = person(str(domain_event.originator_id), state)
        object.__setattr__(
            sealed,
            "__dict__",
            {
                **{name: value for name, value in state.items() if name != PERSONAL},
                SEALED: None if personal is None else self.vault.seal(owner, personal),
            },
        )
        return super().to_stored_event(sealed)

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        domain_event = super().to_domain_event(stored_event)  # upcast, as eventsourcing does
        self.open(str(domain_event.originator_id), vars(domain_event))
        return domain_event

    def read_state(
        self, topic: str, originator_id: str, state: dict[str, Any], sealed: bool = False
    ) -> dict[str, Any]:
        """Return a decoded stored state in its event's current shape, personal data opened
        (or, with `sealed`, left sealed: the ciphertext while its person's key is held)."""
        cls = resolve_topic(topic)
        current = getattr(cls, "class_version", 1)
        version = state.pop("class_version", 1)
        while version < current:
            getattr(cls, f"upcast_v{version}_v{version + 1}")(state)
            version += 1
        if SEALED not in state:
            return state
        if sealed:
            self.close(originator_id, state)
        else:
            self.open(originator_id, state)
        return state

    def open(self, originator_id: str, state: dict[str, Any]) -> None:
        """Replace a state's sealed personal data with its plain data (None once erased).

        `originator_id`: the event's originator as text, whose key seals it unless it names a
        `person`.
        """
        if SEALED in state:
            sealed = state.pop(SEALED)
            owner = person(originator_id, state)
            state[PERSONAL] = None if sealed is None else self.vault.open(owner, sealed)

    def close(self, originator_id: str, state: dict[str, Any]) -> None:
        """Replace a state's `sealed` with `personal` still sealed: the ciphertext while its
        person's key is held, None once they are erased (a copy that their erasure shreds)."""
        sealed = state.pop(SEALED)
        held = sealed is not None and self.vault.holds(person(originator_id, state))
        state[PERSONAL] = sealed if held else None
