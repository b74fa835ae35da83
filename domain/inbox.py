"""The inbox: messages sent to a user, each read once by its recipient."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from domain.users import Personal, gather, user_id

WELCOME = "Welcome to Upare, {username}! Your messages arrive here."


class Message(Aggregate):
    """One message in a user's inbox: a text and an `error_code` (0, or the code of a failure
    it reports, e.g. 204104 when a friend could not be notified).

    Clients know a message by the global position of its `Sent` event (the inbox read model's
    `id`), which a rebuild keeps; its aggregate id is random (or the outbox row's, see
    `commands.inbox.delivered_id`).

    Since v2 its text is personal data, sealed with the key of its `person`: the user it
    names (a new friend's notice names its maker), else its recipient. Once that person is
    erased the text reads as blank.
    """

    class Sent(Aggregate.Created):
        class_version = 2
        uid: int
        person: UUID  # whose key seals `personal`
        personal: Personal  # text
        error_code: int

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            gather(state, "text")
            state["person"] = user_id(state["uid"])

    @classmethod
    def write(
        cls,
        *,
        uid: int,
        text: str,
        error_code: int = 0,
        about: int | None = None,
        id: UUID | None = None,
    ) -> Message:
        """Return a new message to `uid`; `about`: the uid of another user its text names."""
        message: Message = cls._create(
            cls.Sent,
            id=id or uuid4(),
            uid=uid,
            person=user_id(uid if about is None else about),
            personal={"text": text},
            error_code=error_code,
        )
        return message

    @event(Sent)
    def __init__(self, *, uid: int, person: UUID, personal: Personal, error_code: int) -> None:
        self.uid = uid
        self.person = person
        self.text: str = "" if personal is None else personal["text"]
        self.error_code = error_code
        self.unread = True

    class Read(Aggregate.Event):
        pass

    @event(Read)
    def read(self) -> None:
        self.unread = False
