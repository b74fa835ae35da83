"""The recommendations read model: how many friends each two users have in common.

Counts change incrementally with each friendship made or ended, never recomputed per query:
a new friendship of `a` and `b` gives `b` one more friend in common with each friend of `a`,
and `a` one more with each friend of `b`; an ending takes them back. An erased person's
friendships are taken back one by one, as if ended, and their pairs go.
"""

from __future__ import annotations

from domain.friends import Friendship
from domain.users import User
from projections.base import Projection, handles
from projections.database import ReadDB, Transaction
from projections.events import EventRecord

PARTS = 2  # the counts' statements side by side: this project's server has two cores


class RecommendationsProjection(Projection):
    """`adjacency`: one row per side of each standing friendship (its own copy: projections
    never read each other's tables); `mutual`: each two users `low` < `high` who have `count`
    (more than 0) friends in common, friends or not (queries leave friends out), once a pair.
    `pairs` keeps each friendship's two uids, which `Remade` and `Ended` do not carry.

    `steps` is empty but while a rebuild loads (`bulk`): the load writes a making's two sides
    (a COPY) but sets each ending and making again aside there (a COPY too, with its
    position) instead of deleting or writing the pair's sides statement by statement, and
    `derive` settles them (`_settle`) before it counts. An erasure in the load needs no
    settling first: it deletes the sides adjacent, and with its pairs gone the steps of its
    friendships settle to nothing.

    A user's candidates are the pairs they are `low` of (the primary key) and those they are
    `high` of (the index on `mutual (high)`): a pair stored once is half the rows a rebuild
    derives and keeps two indexes of, against one more sort of a user's few hundred
    candidates a query. The index is on `high` alone: every reader of it reads the row's
    count too, so `low` in the index saved no visit of the row, and a rebuild builds it from
    rows in the key's order, 0.38 s for the benchmark's 990,899 against 0.53 with `low`.
    """

    name = "recommendations"
    version = 4
    tables = {
        "pairs": "friendship_id TEXT PRIMARY KEY, low BIGINT NOT NULL, high BIGINT NOT NULL",
        "adjacency": "uid BIGINT NOT NULL, friend BIGINT NOT NULL, PRIMARY KEY (uid, friend)",
        "mutual": (
            "low BIGINT NOT NULL, high BIGINT NOT NULL, count INTEGER NOT NULL,"
            " PRIMARY KEY (low, high)"
        ),
        "steps": (
            "position BIGINT PRIMARY KEY, friendship_id TEXT NOT NULL, standing INTEGER NOT NULL"
        ),
    }
    indexes = {"mutual": ["high"]}

    @handles(Friendship.Made)
    def made(self, tx: Transaction, event: EventRecord) -> None:
        low, high = event.data["low"], event.data["high"]
        tx.execute(
            f"INSERT INTO {self.table('pairs')} (friendship_id, low, high) VALUES (?, ?, ?)"
            " ON CONFLICT (friendship_id) DO NOTHING",
            (event.originator_id, low, high),
        )
        self._befriend(tx, low, high)

    @handles(Friendship.Remade)
    def remade(self, tx: Transaction, event: EventRecord) -> None:
        if self.bulk:
            self._step(tx, event, 1)
            return
        pair = self._pair(tx, event)
        if pair is not None:
            self._befriend(tx, *pair)

    @handles(Friendship.Ended)
    def ended(self, tx: Transaction, event: EventRecord) -> None:
        if self.bulk:
            self._step(tx, event, 0)
            return
        pair = self._pair(tx, event)
        if pair is not None:
            self._unfriend(tx, *pair)

    @handles(User.Erased)
    def erased(self, tx: Transaction, event: EventRecord) -> None:
        uid = event.data["uid"]
        friends = tx.fetchall(f"SELECT friend FROM {self.table('adjacency')} WHERE uid = ?", (uid,))
        for (friend,) in friends:
            self._unfriend(tx, uid, int(friend))
        tx.execute(f"DELETE FROM {self.table('pairs')} WHERE low = ? OR high = ?", (uid, uid))

    def _pair(self, tx: Transaction, event: EventRecord) -> tuple[int, int] | None:
        """Return the friendship's two uids (None once one of them was erased)."""
        pair = tx.fetchone(
            f"SELECT low, high FROM {self.table('pairs')} WHERE friendship_id = ?",
            (event.originator_id,),
        )
        return None if pair is None else (int(pair[0]), int(pair[1]))

    def _step(self, tx: Transaction, event: EventRecord, standing: int) -> None:
        """Set aside that the friendship stands again (1) or no more (0) from this position."""
        tx.execute(
            f"INSERT INTO {self.table('steps')} (position, friendship_id, standing)"
            " VALUES (?, ?, ?)",
            (event.position, event.originator_id, standing),
        )

    def _settle(self, tx: Transaction) -> None:
        """Make the adjacency what the steps set aside make it, and forget them: the latest
        step of each friendship with any tells whether its two sides are adjacent, as the
        deletes and writes one by one would have (a friendship has one id, that of its
        pair); the step of an erased person's friendship, whose pair went, changes nothing,
        as the handlers do then.

        The social benchmark's 5,000 endings, each a DELETE with its lookup of the pair
        in the load, took 0.3 s of it; set aside and settled, under 0.15 s.
        """
        steps, pairs, adjacency = (self.table(name) for name in ("steps", "pairs", "adjacency"))
        latest = (
            f"SELECT friendship_id, standing FROM {steps} WHERE position IN"
            f" (SELECT max(position) FROM {steps} GROUP BY friendship_id)"
        )
        sides = (
            f"SELECT low AS uid, high AS friend, standing FROM ({latest}) AS latest"
            f" JOIN {pairs} AS p ON p.friendship_id = latest.friendship_id"
            f" UNION ALL SELECT high, low, standing FROM ({latest}) AS latest"
            f" JOIN {pairs} AS p ON p.friendship_id = latest.friendship_id"
        )
        tx.execute(
            f"DELETE FROM {adjacency} WHERE (uid, friend) IN"
            f" (SELECT uid, friend FROM ({sides}) AS sides WHERE standing = 0)"
        )
        tx.execute(
            f"INSERT INTO {adjacency} (uid, friend) SELECT uid, friend FROM ({sides}) AS sides"
            " WHERE standing = 1 ON CONFLICT (uid, friend) DO NOTHING"
        )
        tx.execute(f"DELETE FROM {steps}")

    def _unfriend(self, tx: Transaction, low: int, high: int) -> None:
        tx.execute(
            f"DELETE FROM {self.table('adjacency')} WHERE (uid = ? AND friend = ?)"
            " OR (uid = ? AND friend = ?)",
            (low, high, high, low),
        )
        if not self.bulk:
            self._uncount(tx, low, high)

    def derive(self, db: ReadDB) -> None:
        """Settle the steps the load set aside (`_settle`), then count every two users'
        friends in common from the adjacency: each friend `mine.friend` of `mine.uid` (low)
        with a friend `theirs.friend` above it (high), in `PARTS` statements that PostgreSQL
        runs side by side (`ReadDB.refill`), each for the lows of one remainder.

        Each part's rows go in in the primary key's order: where the keys are kept during the
        insert (SQLite) each index page is then filled in runs, not revisited at random;
        PostgreSQL builds them after the insert, from rows already sorted.
        """
        with db.transaction() as tx:
            tx.commit_lazily()
            tx.bulk_settings()
            self._settle(tx)
        adjacency = self.table("adjacency")
        db.refill(
            self.table("mutual"),
            [
                f"(low, high, count) SELECT mine.uid, theirs.friend, count(*) FROM {adjacency}"
                f" AS mine JOIN {adjacency} AS theirs ON theirs.uid = mine.friend"
                f" WHERE theirs.friend > mine.uid AND mine.uid % {PARTS} = {part}"
                " GROUP BY mine.uid, theirs.friend ORDER BY mine.uid, theirs.friend"
                for part in range(PARTS)
            ],
        )

    def _befriend(self, tx: Transaction, low: int, high: int) -> None:
        """Count the new friends in common (before the pair is adjacent), then make it so;
        in a rebuild's load (`bulk`) the counts wait for `derive`."""
        if not self.bulk:
            self._count(tx, low, high)
        tx.execute_rows(  # both sides in one go (on PostgreSQL one statement, via unnest)
            f"INSERT INTO {self.table('adjacency')} (uid, friend) VALUES (?, ?)"
            " ON CONFLICT (uid, friend) DO NOTHING",
            [(low, high), (high, low)],
        )

    def _count(self, tx: Transaction, low: int, high: int) -> None:
        """Count the friends in common a friendship of the pair gives (before it is adjacent)."""
        mutual = self.table("mutual")
        tx.execute(
            f"INSERT INTO {mutual} (low, high, count) SELECT low, high, 1"
            f" FROM ({self._pairs}) AS pairs WHERE true"  # WHERE: SQLite's upsert after a FROM
            f" ON CONFLICT (low, high) DO UPDATE SET count = {mutual}.count + 1",
            (high, low, low, high),
        )

    def _uncount(self, tx: Transaction, low: int, high: int) -> None:
        """Take back the friends in common the pair gave (after it stopped being adjacent); a
        count that reaches 0 goes."""
        sides = (high, low, low, high)
        among = f"(low, high) IN ({self._pairs})"
        mutual = self.table("mutual")
        tx.execute(f"UPDATE {mutual} SET count = count - 1 WHERE {among}", sides)
        tx.execute(f"DELETE FROM {mutual} WHERE count = 0 AND {among}", sides)

    @property
    def _pairs(self) -> str:
        """Select the pairs (low, high) a friendship of (`a`, `b`) gives a friend in common:
        {b, x} for each friend x of a, {a, y} for each friend y of b. Parameters: b, a, a, b.
        No pair comes twice while a and b are not friends."""
        adjacency = self.table("adjacency")
        sides = (
            f"SELECT ? AS one, friend AS other FROM {adjacency} WHERE uid = ?"
            f" UNION ALL SELECT ?, friend FROM {adjacency} WHERE uid = ?"
        )
        return (
            "SELECT CASE WHEN one < other THEN one ELSE other END AS low,"
            " CASE WHEN one < other THEN other ELSE one END AS high"
            f" FROM ({sides}) AS sides"
        )
