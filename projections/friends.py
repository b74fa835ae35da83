"""The friends read model: who is whose friend, since when, and whether they were notified."""

from __future__ import annotations

from domain.friends import Friendship
from domain.users import User
from projections.base import Projection, handles
from projections.database import Transaction
from projections.events import EventRecord


class FriendsProjection(Projection):
    """Two rows per standing friendship, one for each side (`uid` sees `friend`).

    `round` is the making the row shows (`Friendship.round`), `since` its time (ISO 8601 UTC)
    and `notified` the outcome of that round's notification of the friend: NULL while it is
    pending, 1 once `FriendNotified`, 0 once `FriendNotificationFailed`. An outcome of an older
    round changes nothing; an ended friendship's rows go. `pairs` keeps each friendship's two
    uids, which its later events (`Remade`, `Ended`) do not carry.

    An erased person (`User.Erased`) leaves every list, and their pairs go; a later event of
    a friendship of theirs (none should come: the commands refuse them) changes nothing.
    """

    name = "friends"
    version = 2
    tables = {
        "list": (
            "uid BIGINT NOT NULL, friend BIGINT NOT NULL, friendship_id TEXT NOT NULL,"
            " round INTEGER NOT NULL, since TEXT NOT NULL, notified INTEGER,"
            " PRIMARY KEY (uid, friend)"
        ),
        "pairs": "friendship_id TEXT PRIMARY KEY, low BIGINT NOT NULL, high BIGINT NOT NULL",
    }
    indexes = {"list": ["friendship_id"]}

    def _insert(self, tx: Transaction, event: EventRecord, low: int, high: int, round: int) -> None:
        since = event.timestamp.isoformat()
        for uid, friend in ((low, high), (high, low)):
            tx.execute(
                f"INSERT INTO {self.table('list')} (uid, friend, friendship_id, round, since,"
                " notified) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (uid, friend) DO NOTHING",
                (uid, friend, event.originator_id, round, since, None),  # all placeholders:
                # a rebuild sends a page's rows together (`projections.batched`)
            )

    @handles(Friendship.Made)
    def made(self, tx: Transaction, event: EventRecord) -> None:
        low, high = event.data["low"], event.data["high"]
        tx.execute(
            f"INSERT INTO {self.table('pairs')} (friendship_id, low, high) VALUES (?, ?, ?)"
            " ON CONFLICT (friendship_id) DO NOTHING",
            (event.originator_id, low, high),
        )
        self._insert(tx, event, low, high, 1)

    @handles(Friendship.Remade)
    def remade(self, tx: Transaction, event: EventRecord) -> None:
        pair = tx.fetchone(
            f"SELECT low, high FROM {self.table('pairs')} WHERE friendship_id = ?",
            (event.originator_id,),
        )
        if pair is None:
            return  # a friendship of an erased person
        self._insert(tx, event, pair[0], pair[1], event.data["round"])

    @handles(Friendship.Ended)
    def ended(self, tx: Transaction, event: EventRecord) -> None:
        tx.execute(
            f"DELETE FROM {self.table('list')} WHERE friendship_id = ?", (event.originator_id,)
        )

    def _outcome(self, tx: Transaction, event: EventRecord, notified: int) -> None:
        tx.execute(
            f"UPDATE {self.table('list')} SET notified = ? WHERE friendship_id = ? AND round = ?",
            (notified, event.originator_id, event.data["round"]),
        )

    @handles(Friendship.FriendNotified)
    def friend_notified(self, tx: Transaction, event: EventRecord) -> None:
        self._outcome(tx, event, 1)

    @handles(Friendship.FriendNotificationFailed)
    def friend_notification_failed(self, tx: Transaction, event: EventRecord) -> None:
        self._outcome(tx, event, 0)

    @handles(User.Erased)
    def erased(self, tx: Transaction, event: EventRecord) -> None:
        uid = event.data["uid"]
        tx.execute(f"DELETE FROM {self.table('list')} WHERE uid = ? OR friend = ?", (uid, uid))
        tx.execute(f"DELETE FROM {self.table('pairs')} WHERE low = ? OR high = ?", (uid, uid))
