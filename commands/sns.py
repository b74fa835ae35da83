"""Commands on SNS bindings: register with an SNS identity, bind one to an account, unbind.

An identity is proven by a server-signed ticket (`upare.sns`). It binds at most one account:
its `Index` claim (kind `sns:<channel>`, value the openid) is saved with the `User.SnsBound`
event, so two accounts racing for one identity cannot both win; unbinding releases it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from commands.application import Done, WriteApplication
from commands.credentials import prove_account
from commands.users import (
    RegisterUser,
    Uids,
    claim,
    load_user,
    mail_first_code,
    open_account,
    release,
)
from domain.errors import UpareError, invalid
from domain.users import Index, User
from projections.database import ReadDB
from upare import sns
from upare.cache import Cache
from upare.rate_limits import RateLimits
from upare.settings import Settings
from workers.mailer import Mailer


def sns_kind(channel: str) -> str:
    """Return the kind of the index claims on this channel's openids."""
    return f"sns:{channel}"


def bind(app: WriteApplication, user: User, identity: sns.Identity) -> Index:
    """Bind the identity to the user; return its claim, to save with the user.

    100004 naming `sns_ticket` when the user has a binding on that channel already (this
    identity or another: unbind it first) or the identity is bound to another account.
    """
    if identity.channel in user.sns:
        raise invalid(sns_ticket=f"the account is bound to {identity.channel} already")
    try:
        index = claim(app, sns_kind(identity.channel), identity.openid, user.id, 100004)
    except UpareError:
        raise invalid(sns_ticket="names an SNS account bound to another account") from None
    user.bind_sns(identity.channel, identity.openid)
    return index


def read_ticket(settings: Settings, clock: Callable[[], datetime], ticket: str) -> sns.Identity:
    """Return the identity a ticket proves now; 100004 naming `sns_ticket` if it proves none."""
    return sns.read(settings.secret_key, ticket, clock().timestamp())


@dataclass(frozen=True, kw_only=True)
class RegisterWithSns:
    username: str
    password: str
    confirm: str
    email: str
    ticket: str


def register_with_sns(
    command: RegisterWithSns,
    *,
    app: WriteApplication,
    uids: Uids,
    cache: Cache,
    limits: RateLimits,
    db: ReadDB,
    mailer: Mailer,
    settings: Settings,
    clock: Callable[[], datetime],
) -> Done:
    """Open an account as `register` does, bound to the ticket's identity, in one transaction,
    and mail its verification code as `register` does (202201 when the mailer refuses)."""
    identity = read_ticket(settings, clock, command.ticket)
    if command.confirm != command.password:
        raise invalid(confirm="must equal password")
    account = RegisterUser(
        username=command.username, password=command.password, email=command.email
    )
    done = open_account(app, uids, account, also=lambda user: [bind(app, user, identity)])
    mail_first_code(
        done, command.email, cache=cache, limits=limits, db=db, mailer=mailer, settings=settings
    )
    return done


@dataclass(frozen=True, kw_only=True)
class BindSns:
    username: str  # or the account's email, as at login
    password: str
    ticket: str
    address: str  # the client's, for the login lockout


def bind_sns(
    command: BindSns,
    *,
    app: WriteApplication,
    limits: RateLimits,
    settings: Settings,
    clock: Callable[[], datetime],
) -> Done:
    """Bind the ticket's identity to the account these credentials prove."""
    identity = read_ticket(settings, clock, command.ticket)
    user = prove_account(app, limits, command.username, command.password, command.address)
    index = bind(app, user, identity)
    return app.record(user, index, uid=user.uid)


@dataclass(frozen=True, kw_only=True)
class UnbindSns:
    uid: int
    channel: str | None = None  # None: the one channel bound


def unbind_sns(command: UnbindSns, *, app: WriteApplication) -> Done:
    """Unbind the user's SNS account of a channel and release its claim, in one transaction.

    202302 when nothing (or nothing of that channel) is bound; without a channel while several
    are bound, 100004 naming `channel`.
    """
    user = load_user(app, command.uid)
    channel = command.channel
    if channel is None and len(user.sns) > 1:
        raise invalid(channel=f"is required: {', '.join(sorted(user.sns))} are bound")
    if channel is None:
        channel = next(iter(user.sns), None)
    if channel is None or channel not in user.sns:
        raise UpareError(202302)
    openid = user.sns[channel]
    user.unbind_sns(channel)
    return app.record(user, *release(app, sns_kind(channel), openid, user.id))
