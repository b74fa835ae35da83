"""A test-only aggregate and projection whose rows show any lost, doubled or reordered event.

`Counter` aggregates get many small `Added` events; the `tally` projection keeps, per counter,
the total, the number of events, the last version and an order-sensitive digest, and refuses
an event older than the last one it applied. An `Added` of `POISON` makes its handler raise while
`TallyProjection.poisoned` is True.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from eventsourcing.domain import Aggregate, event

from commands.application import WriteApplication
from domain.users import User
from projections import catalog
from projections.apply import apply_batch
from projections.base import Projection, handles
from projections.database import ReadDB, Transaction
from projections.events import EventLog, EventRecord

POISON = 13013
DIGEST_MODULUS = 1_000_000_007


class Counter(Aggregate):
    """A named counter."""

    @event("Opened")
    def __init__(self, *, name: str) -> None:
        self.name = name

    @event("Added")
    def add(self, amount: int) -> None:
        pass


class TallyProjection(Projection):
    name = "tally"
    tables = {
        "counters": (
            "id TEXT PRIMARY KEY, name TEXT NOT NULL, total BIGINT NOT NULL,"
            " events INTEGER NOT NULL, digest BIGINT NOT NULL, last_version INTEGER NOT NULL"
        )
    }
    poisoned = True

    @handles(Counter.Opened)
    def opened(self, tx: Transaction, event: EventRecord) -> None:
        tx.execute(
            f"INSERT INTO {self.table('counters')} VALUES (?, ?, 0, 1, 1, ?)",
            (event.originator_id, event.data["name"], event.version),
        )

    @handles(Counter.Added)
    def added(self, tx: Transaction, event: EventRecord) -> None:
        amount = event.data["amount"]
        if amount == POISON and type(self).poisoned:
            raise ValueError(f"poison amount {amount}")
        row = tx.fetchone(
            f"SELECT last_version, digest FROM {self.table('counters')} WHERE id = ?",
            (event.originator_id,),
        )
        if row is None or int(row[0]) >= event.version:  # an older event after a newer one
            raise RuntimeError(f"{event.originator_id} v{event.version} after {row}")
        digest = (int(row[1]) * 31 + amount * event.version) % DIGEST_MODULUS
        tx.execute(
            f"UPDATE {self.table('counters')} SET total = total + ?, events = events + 1,"
            " digest = ?, last_version = ? WHERE id = ?",
            (amount, digest, event.version, event.originator_id),
        )


def stream(
    store: WriteApplication,
    events: int,
    per_save: int = 200,
    pause: Callable[[], None] = lambda: None,
    seed: int = 7,
) -> Iterator[int]:
    """Save about `events` events, `per_save` at a time; yield the position after each save.

    Counters get 1-3 events each per save, so most saves hold several versions of one
    aggregate; about one save in ten also registers users (with a fake password hash).
    """
    rng = random.Random(seed)
    counters: list[Counter] = []
    saved, uid = 0, 50_000 + rng.randrange(10_000_000)
    while saved < events:
        batch: list[Aggregate] = []
        size = 0
        while size < per_save:
            if len(counters) < 50 or rng.random() < 0.05:
                counters.append(Counter(name=f"c{len(counters)}"))
                batch.append(counters[-1])
                size += 1
            counter = rng.choice(counters)
            for _ in range(rng.randint(1, 3)):
                counter.add(amount=rng.randint(1, 1000))
                size += 1
            if counter not in batch:
                batch.append(counter)
        if rng.random() < 0.1:
            for _ in range(5):
                uid += 1
                name = f"u{uid}"
                batch.append(
                    User.register(uid=uid, username=name, email=f"{name}@x.io", password_hash="x")
                )
                size += 1
        yield store.record(*batch).position
        saved += size
        pause()


def reference(log: EventLog, db: ReadDB, cls: type[Projection]) -> Projection:
    """Build a spare generation of a projection straight from the store, with `apply_batch`."""
    with db.transaction() as tx:
        projection = cls(1000 + (catalog.live_generation(tx, cls.name) or 0))
        catalog.drop_generation(tx, projection)
        catalog.create_tables(tx, projection)
    position = 0
    while page := log.read(position, 1000):
        with db.transaction() as tx:
            apply_batch(tx, projection, page)
        position = page[-1].position
    return projection


def rows(db: ReadDB, projection: Projection) -> dict[str, list[tuple[object, ...]]]:
    """Return every row of every table of one generation, sorted."""
    return {
        table: sorted(db.fetchall(f"SELECT * FROM {projection.table(table)}"))
        for table in projection.tables
    }


@contextmanager
def forgiving() -> Iterator[None]:
    """Make the poison harmless for a while."""
    TallyProjection.poisoned = False
    try:
        yield
    finally:
        TallyProjection.poisoned = True
