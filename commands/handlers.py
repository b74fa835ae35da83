"""The one table from command to handler, and the bus that runs commands with their
dependencies bound (as cosmicpython's bootstrap does).

A handler is a function `handler(command, *, name: Dependency, ...)`: its keyword-only
parameters name what it needs from the composition root (`app`, `uids`, `cache`, `limits`,
`db` (the read-model database, for the outbox), `mailer`, `clock`, `settings`), and the bus
passes exactly those. A version conflict (two
writers saved the same aggregate version, or claimed the same unique value) reloads and runs
the command again, a bounded number of times, in one place for every command.
"""

from __future__ import annotations

import inspect
import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from eventsourcing.persistence import IntegrityError

from commands import avatars, calendar, clients, codes, friends, inbox, sessions, sns, tokens
from commands.application import Done
from commands.authorize import IssueCode, issue_code
from commands.erasure import EraseUser, erase_user
from commands.notices import (
    RecordFriendNotified,
    RecordNotificationFailed,
    record_friend_notified,
    record_notification_failed,
)
from commands.profiles import (
    ModifyBasicInfo,
    ModifyDetailInfo,
    modify_basic_info,
    modify_detail_info,
)
from commands.users import RegisterUser, register_user
from domain.errors import UpareError

log = logging.getLogger(__name__)
HANDLERS: dict[type, Callable[..., Done]] = {
    RegisterUser: register_user,
    ModifyBasicInfo: modify_basic_info,
    ModifyDetailInfo: modify_detail_info,
    sns.RegisterWithSns: sns.register_with_sns,
    sns.BindSns: sns.bind_sns,
    sns.UnbindSns: sns.unbind_sns,
    inbox.ReadMessage: inbox.read_message,
    inbox.DeliverMessage: inbox.deliver_message,
    RecordFriendNotified: record_friend_notified,
    RecordNotificationFailed: record_notification_failed,
    avatars.UploadAvatar: avatars.upload_avatar,
    clients.CreateClient: clients.create_client,
    clients.RotateClientSecret: clients.rotate_client_secret,
    clients.DeleteClient: clients.delete_client,
    codes.SendCode: codes.send_code,
    codes.VerifyMedium: codes.verify_medium,
    sessions.LogIn: sessions.log_in,
    tokens.ExchangeCode: tokens.exchange_code,
    tokens.RefreshTokens: tokens.refresh_tokens,
    tokens.GrantPassword: tokens.grant_password,
    tokens.DeleteAccess: tokens.delete_access,
    tokens.RevokeGrant: tokens.revoke_grant,
    IssueCode: issue_code,
    calendar.AddTodo: calendar.add_todo,
    calendar.UpdateTodo: calendar.update_todo,
    calendar.DeleteTodo: calendar.delete_todo,
    calendar.SendReminder: calendar.send_reminder,
    friends.MakeFriend: friends.make_friend,
    friends.EndFriendship: friends.end_friendship,
    EraseUser: erase_user,
}
ATTEMPTS = 30  # runs of a command that keeps meeting concurrent writers before it gives up
# the code a command answers when it never got past its conflicts (else: 100001)
GAVE_UP: dict[type, int] = {
    RegisterUser: 202202,
    ModifyBasicInfo: 202303,
    ModifyDetailInfo: 202303,
    sns.RegisterWithSns: 202202,
    calendar.AddTodo: 203201,
    friends.MakeFriend: 204102,
    friends.EndFriendship: 204103,
}


def bind(handler: Callable[..., Done], dependencies: Mapping[str, Any]) -> Callable[[Any], Done]:
    """Return the handler with the dependencies it names bound (a missing one fails now)."""
    wanted = [
        name
        for name, parameter in inspect.signature(handler).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    missing = [name for name in wanted if name not in dependencies]
    if missing:
        raise TypeError(f"{handler.__name__} needs {missing}, which the bus was not given")
    bound = {name: dependencies[name] for name in wanted}
    return lambda command: handler(command, **bound)


class Bus:
    """Run commands through their bound handlers, retrying version conflicts."""

    def __init__(self, dependencies: Mapping[str, Any]) -> None:
        self.handlers = {kind: bind(handler, dependencies) for kind, handler in HANDLERS.items()}

    def execute(self, command: object) -> Done:
        """Run a command; on a version conflict load again and rerun it, a few times at most."""
        handler = self.handlers[type(command)]
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return handler(command)
            except IntegrityError as ex:
                log.info(
                    "%s met a concurrent write (attempt %d): %r",
                    type(command).__name__,
                    attempt,
                    ex,
                )
                time.sleep(random.uniform(0, 0.002 * attempt))  # noqa: S311 (jitter, not secrets)
        raise UpareError(GAVE_UP.get(type(command), 100001))
