"""The friends read model: who is whose friend, since when, and whether they were notified."""

from __future__ import annotations

from domain.friends import Friendship
from domain.users import User
from projections.base import Projection, handles
from projections.database import ReadDB, Transaction
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

    `outcomes` is empty but while a rebuild loads (`bulk`): the load sets each outcome aside
    there (a COPY) instead of updating its rows a page at a time, and `derive` folds them in.
    """

    name = "friends"
    version = 3
    tables = {
        "list": (
            "uid BIGINT NOT NULL, friend BIGINT NOT NULL, friendship_id TEXT NOT NULL,"
            " round INTEGER NOT NULL, since TEXT NOT NULL, notified INTEGER,"
            " PRIMARY KEY (uid, friend)"
        ),
        "pairs": "friendship_id TEXT PRIMARY KEY, low BIGINT NOT NULL, high BIGINT NOT NULL",
        "outcomes": (
            "position BIGINT PRIMARY KEY, friendship_id TEXT NOT NULL, round INTEGER NOT NULL,"
            " notified INTEGER NOT NULL"
        ),
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
        if self.bulk:
            tx.execute(
                f"INSERT INTO {self.table('outcomes')} (position, friendship_id, round, notified)"
                " VALUES (?, ?, ?, ?)",
                (event.position, event.originator_id, event.data["round"], notified),
            )
            return
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

    def derive(self, db: ReadDB) -> None:
        """Fold the outcomes the load set aside into the rows of their rounds, the latest of
        each round winning, as the updates one by one would have: an outcome changes only the
        rows of its round, and a round's rows, once gone (ended, erased), never come back
        (a friendship made again is a new round).

        The rows are written again whole (`Transaction.refill`), not updated: on PostgreSQL
        updating the 90,000 rows of the benchmark's 45,000 friendships took 1.2-2.2 s, most
        of it in their two indexes, against about 0.4 s to write the table anew.
        """
        with db.transaction() as tx:
            tx.commit_lazily()
            self._fold(tx)

    def _fold(self, tx: Transaction) -> None:
        outcomes = self.table("outcomes")
        latest = (
            "SELECT friendship_id, round, notified, row_number() OVER (PARTITION BY"
            f" friendship_id, round ORDER BY position DESC) AS nth FROM {outcomes}"
        )
        tx.execute(
            "CREATE TEMP TABLE friends_folded AS SELECT l.uid, l.friend, l.friendship_id,"
            " l.round, l.since, coalesce(o.notified, l.notified) AS notified"
            f" FROM {self.table('list')} AS l LEFT JOIN ({latest}) AS o"
            " ON o.friendship_id = l.friendship_id AND o.round = l.round AND o.nth = 1"
        )
        tx.refill(self.table("list"), "SELECT * FROM friends_folded")
        tx.execute("DROP TABLE friends_folded")
        tx.execute(f"DELETE FROM {outcomes}")

    @handles(User.Erased)
    def erased(self, tx: Transaction, event: EventRecord) -> None:
        uid = event.data["uid"]
        tx.execute(f"DELETE FROM {self.table('list')} WHERE uid = ? OR friend = ?", (uid, uid))
        tx.execute(f"DELETE FROM {self.table('pairs')} WHERE low = ? OR high = ?", (uid, uid))
