"""The one table from command to handler, and the call that runs a command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from commands.store import Done, EventStore
from commands.users import RegisterUser, register_user

HANDLERS: dict[type, Callable[[EventStore, Any], Done]] = {
    RegisterUser: register_user,
}


def execute(store: EventStore, command: object) -> Done:
    """Run a command through its handler."""
    return HANDLERS[type(command)](store, command)
