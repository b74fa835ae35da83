"""Erasure by crypto-shredding: `upare users erase UID`.

The user's claims on their email, phone, nickname and SNS identities are released and
`User.Erased` is recorded, in one transaction; then their key is deleted from the vault, so
every copy of their personal data (the store, Kafka, old exports) reads as erased. Their
sessions and access tokens end first, and the outbox's messages to them (inbox, email, phone)
and about them (the notices of the friendships they made) and their verification codes' state
(which names them) go. Their username stays held by the erased
account (it is not personal data, and usernames are never handed to someone else). Erasing
again only deletes the key again, so a run cut short after the save is finished by running it
again.
"""

from __future__ import annotations

from dataclasses import dataclass

from eventsourcing.application import AggregateNotFoundError

from commands.application import Done, WriteApplication
from commands.sns import sns_kind
from commands.users import release
from domain.errors import UpareError
from domain.users import User, user_id
from projections import notices, outbox
from projections.database import ReadDB
from projections.notices import NoticesProjection
from upare import codes
from upare.cache import Cache
from upare.sessions import end_other_sessions, revoke_user_tokens
from upare.settings import Settings


@dataclass(frozen=True, kw_only=True)
class EraseUser:
    uid: int


def erase_user(
    command: EraseUser, *, app: WriteApplication, cache: Cache, db: ReadDB, settings: Settings
) -> Done:
    """Forget a person: release their claims, record `User.Erased`, delete their key."""
    try:
        user: User = app.repository.get(user_id(command.uid))
    except AggregateNotFoundError:
        raise UpareError(202001) from None
    done = Done()
    if not user.erased:
        end_other_sessions(cache, user.uid, None)
        revoke_user_tokens(cache, user.uid)
        claims = [("email", user.email), ("nickname", user.nickname), ("phone", user.phone)]
        claims += [(sns_kind(channel), openid) for channel, openid in user.sns.items()]
        releases = [
            index
            for kind, value in claims
            if value is not None
            for index in release(app, kind, value, user.id)
        ]
        with db.transaction() as tx:
            outbox.forget(tx, [str(user.uid), *(v for v in (user.email, user.phone) if v)])
            notices.forget(tx, NoticesProjection.view("rounds"), user.uid)
        codes.forget(cache, settings, user.uid)
        user.erase()
        done = app.record(user, *releases)
    app.vault.erase(str(user.id))
    return done
