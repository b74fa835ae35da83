"""The inbox: messages sent to a user, each read once by its recipient."""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event

WELCOME = "Welcome to Upare, {username}! Your messages arrive here."


class Message(Aggregate):
    """One message in a user's inbox: a text and an `error_code` (0, or the code of a failure
    it reports, e.g. 204104 when a friend could not be notified).

    Clients know a message by the global position of its `Sent` event (the inbox read model's
    `id`), which a rebuild keeps; its aggregate id is random.
    """

    class Sent(Aggregate.Created):
        uid: int
        text: str
        error_code: int

    @event(Sent)
    def __init__(self, *, uid: int, text: str, error_code: int = 0) -> None:
        self.uid = uid
        self.text = text
        self.error_code = error_code
        self.unread = True

    class Read(Aggregate.Event):
        pass

    @event(Read)
    def read(self) -> None:
        self.unread = False
