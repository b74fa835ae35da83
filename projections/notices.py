"""The notices of new friends: for each round of a friendship, what was queued to tell the
friend, and how it ended.

For a new friendship (`Made`, or `Remade` after an end) it reads the maker's nickname and the
friend's email from the users read model (it declares `after = ("users",)`, so the feeds give
it the event only once that read model has passed it) and queues, in its own transaction
(`Projection.send`), the friend's inbox message and, when the friend's email is verified, a
mail. A rebuild queues nothing. The outcome is the notifier's (`workers.notifier`): it watches
these rows and their outbox rows and records `FriendNotified` or `FriendNotificationFailed`,
which close the row here.
"""

from __future__ import annotations

from domain.friends import Friendship
from domain.users import User
from projections import outbox
from projections.base import Projection, handles
from projections.database import Transaction
from projections.events import EventRecord
from projections.users import UsersProjection

PENDING, NOTIFIED, FAILED = "pending", "notified", "failed"
INBOX, MAIL = "inbox", "mail"  # the purposes of the two messages (their outbox keys' ends)
SUBJECT = "You have a new friend on Upare"


class NoticesProjection(Projection):
    """One row per friendship round. `inbox_key`/`mail_key` are the keys its messages have
    in the outbox (a key without a row: nothing was queued, e.g. a round built by a rebuild
    from history); `reason` is set when the notice could not even be queued. An erased
    person's rounds go (`User.Erased`), as maker or as friend, and with them the outbox rows
    of the notices they made, which name them. The inbox message names its maker (`about`),
    so the text it is saved with is sealed with the maker's key."""

    name = "notices"
    version = 2
    has_side_effects = True
    after = (UsersProjection.name,)
    tables = {
        "rounds": (
            "friendship_id TEXT NOT NULL, round INTEGER NOT NULL, maker BIGINT NOT NULL,"
            " friend BIGINT NOT NULL, inbox_key TEXT NOT NULL, mail_key TEXT NOT NULL,"
            " status TEXT NOT NULL, reason TEXT NOT NULL, PRIMARY KEY (friendship_id, round)"
        ),
    }
    indexes = {"rounds": ["status"]}

    @handles(Friendship.Made)
    def made(self, tx: Transaction, event: EventRecord) -> None:
        data = event.data
        friend = data["high"] if data["maker"] == data["low"] else data["low"]
        self._notice(tx, event, 1, data["maker"], friend)

    @handles(Friendship.Remade)
    def remade(self, tx: Transaction, event: EventRecord) -> None:
        row = tx.fetchone(
            f"SELECT maker, friend FROM {self.table('rounds')} WHERE friendship_id = ?",
            (event.originator_id,),
        )
        if row is None:
            return  # a friendship of an erased person
        maker = event.data["maker"]
        friend = row[1] if int(row[0]) == maker else row[0]
        self._notice(tx, event, event.data["round"], maker, int(friend))

    def _notice(
        self, tx: Transaction, event: EventRecord, round: int, maker: int, friend: int
    ) -> None:
        keys = [outbox.key(self.name, event.originator_id, event.version, p) for p in (INBOX, MAIL)]
        reason = "" if self.replay else self._queue(tx, event, maker, friend)
        tx.execute(
            f"INSERT INTO {self.table('rounds')} (friendship_id, round, maker, friend,"
            " inbox_key, mail_key, status, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (friendship_id, round) DO NOTHING",
            (event.originator_id, round, maker, friend, *keys, PENDING, reason),
        )

    def _queue(self, tx: Transaction, event: EventRecord, maker: int, friend: int) -> str:
        """Queue the friend's messages; return why none could be queued ("" when queued)."""
        profiles = {
            int(row[0]): row[1:]
            for row in tx.fetchall(
                "SELECT uid, nickname, email, email_verified"
                f" FROM {UsersProjection.view('profiles')} WHERE uid IN (?, ?)",
                (maker, friend),
            )
        }
        if maker not in profiles or friend not in profiles:
            missing = maker if maker not in profiles else friend
            return f"user {missing} has no profile"
        nickname = profiles[maker][0]
        email, verified = profiles[friend][1:]
        text = f"{nickname} is now your friend"
        self.send(tx, event, INBOX, outbox.inbox(uid=friend, text=text, about=maker))
        if verified:
            body = f"{nickname} (uid {maker}) is now your friend on Upare."
            self.send(tx, event, MAIL, outbox.mail(to=email, subject=SUBJECT, body=body))
        return ""

    @handles(Friendship.FriendNotified)
    def notified(self, tx: Transaction, event: EventRecord) -> None:
        self._close(tx, event, NOTIFIED)

    @handles(Friendship.FriendNotificationFailed)
    def notification_failed(self, tx: Transaction, event: EventRecord) -> None:
        self._close(tx, event, FAILED)

    def _close(self, tx: Transaction, event: EventRecord, status: str) -> None:
        tx.execute(
            f"UPDATE {self.table('rounds')} SET status = ? WHERE friendship_id = ? AND round = ?",
            (status, event.originator_id, event.data["round"]),
        )

    @handles(User.Erased)
    def erased(self, tx: Transaction, event: EventRecord) -> None:
        uid, rounds = event.data["uid"], self.table("rounds")
        if not self.replay:  # those queued after the erasure command looked (see `forget`)
            forget(tx, rounds, uid)
        tx.execute(f"DELETE FROM {rounds} WHERE maker = ? OR friend = ?", (uid, uid))


def forget(tx: Transaction, rounds: str, maker: int) -> None:
    """Delete the outbox rows of the notices of friendships `maker` made (their texts name
    them), sent or not: the erasure's part here. `rounds` is the rounds table to read."""
    tx.execute(
        f"DELETE FROM {outbox.TABLE} WHERE key IN (SELECT inbox_key FROM {rounds}"
        f" WHERE maker = ? UNION SELECT mail_key FROM {rounds} WHERE maker = ?)",
        (maker, maker),
    )
