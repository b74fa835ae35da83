"""Rebuild a projection as its next generation, straight from the event store, then switch.

The rebuild writes generation live+1 into tables of its own while the live generation keeps
serving and its feeds keep writing it. It reads the store's log in pages and applies each page
in one read-model transaction. Once it has caught up, one transaction locks the projection
against its feeds (`catalog.lock_live`), applies the events stored since, records the new
generation's position, points the views at it and drops the old generation: readers and feeds
see either the old generation or the new one, never a mix.

Side effects: the rebuild replays with `projection.replay = True`. A projection with side
effects never replays past the live generation's watermark; the events after it, which the
live generation may not have handled yet, are applied by the switch with `replay = False`, so
their side effects run, as the live generation would have run them. A projection that was
never built (new to the deployment) has no live generation to honour: the history stored
when its build starts is replayed without side effects, and only what comes after has them.

Verified (`verify=True`): in the switch's transaction, with the live generation locked still,
the live generation is first brought to the same position (the events it had not applied
yet, replayed without side effects: if the switch happens the new generation runs them), then
both are compared table by table (`projections.compare`). The switch happens only when they
match, or when `force` is set; a refused switch changes nothing live and drops the new
generation.

Kept (`keep=True`): the old generation is not dropped but kept (`catalog.kept`), with the
position it had every event up to. `rollback` switches back to it: it catches it up from that
position, as a rebuild catches up (pages, then the tail under the lock; side effects only
for what the live generation had not handled), so it never serves older than the one it
replaces, and it keeps the generation it leaves in turn. One generation is kept at most; a
later switch drops the one kept before. Generation numbers are never reused (the Kafka
projector remembers what it recorded per generation): the next is one past the live and the
kept ones.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from projections import catalog
from projections.apply import Retry
from projections.base import Projection
from projections.compare import Comparison
from projections.copier import Copier, Mismatch, RebuildError, Report
from projections.database import ReadDB
from projections.events import EventLog


class Busy(RebuildError):
    """Another rebuild of the same projection is running."""


@dataclass(frozen=True)
class Rebuilt:
    """What a rebuild (or rollback) did: the generation it made live, how far and fast it
    went, the generation it kept, and what verifying found."""

    name: str
    generation: int
    position: int
    events: int
    seconds: float
    kept: int | None = None
    comparison: Comparison | None = None


def rebuild(
    log: EventLog,
    db: ReadDB,
    cls: type[Projection],
    report: Report | None = None,
    retry: Retry | None = None,
    *,
    verify: bool = False,
    force: bool = False,
    keep: bool = False,
) -> Rebuilt:
    """Build the next generation of a projection from the event store and make it live.

    With `verify` it switches only if the new generation matches the live one (or `force`);
    with `keep` the old generation is kept for `rollback`.
    """
    started = time.monotonic()
    with db.exclusive(f"rebuild-{cls.name}") as free:
        if not free:
            raise Busy(f"a rebuild of {cls.name!r} is running already")
        with db.transaction() as tx:
            live = catalog.live_generation(tx, cls.name)
            if live is None:
                raise RebuildError(f"projection {cls.name!r} is not installed (`upare db init`)")
            built = catalog.built_version(tx, cls.name) is not None
            kept = catalog.kept(tx, cls.name)
            projection = cls(max(live, kept.generation if kept else 0) + 1, replay=True)
            catalog.drop_generation(tx, projection)  # what an interrupted rebuild left behind
            catalog.create_tables(tx, projection)
            unindexed = [
                definition
                for table in projection.tables
                for definition in tx.drop_indexes(projection.table(table))
            ]
        copier = Copier(log, db, projection, report, retry or Retry())
        copier.unindexed = unindexed  # built when a page needs them, or after the load
        if not built:  # nothing live to honour: today's history is replayed without effects
            copier.handled = log.head()
        copier.in_order = True  # a fresh generation, read from the log's start
        copier.load()
        try:
            comparison = copier.switch(cls(live), keep=keep, verify=verify, force=force)
        except Mismatch:
            with db.transaction() as tx:
                catalog.drop_generation(tx, projection)
            raise
    seconds = time.monotonic() - started
    return Rebuilt(
        cls.name,
        projection.generation,
        copier.position,
        copier.events,
        seconds,
        live if keep else None,
        comparison,
    )


def rollback(
    log: EventLog,
    db: ReadDB,
    cls: type[Projection],
    report: Report | None = None,
    retry: Retry | None = None,
) -> Rebuilt:
    """Switch readers back to the kept generation, caught up first; keep the one it leaves."""
    started = time.monotonic()
    with db.exclusive(f"rebuild-{cls.name}") as free:
        if not free:
            raise Busy(f"a rebuild of {cls.name!r} is running: roll back after it")
        with db.transaction() as tx:
            live = catalog.live_generation(tx, cls.name)
            kept = catalog.kept(tx, cls.name)
            if live is None or kept is None:
                raise RebuildError(
                    f"projection {cls.name!r} has no kept generation to roll back to"
                    " (`upare projections rebuild NAME --keep` keeps one)"
                )
            if kept.version != cls.version:
                built = (
                    "never built" if kept.version is None else f"built by version {kept.version}"
                )
                raise RebuildError(
                    f"the kept generation {kept.generation} of {cls.name!r} was {built},"
                    f" and this code is version {cls.version}: run the code it was built with,"
                    " or rebuild"
                )
            projection = cls(kept.generation, replay=True)
            start = catalog.position(tx, projection)
        copier = Copier(log, db, projection, report, retry or Retry())
        copier.position = start
        copier.load()
        copier.switch(cls(live), keep=True)
    seconds = time.monotonic() - started
    return Rebuilt(cls.name, kept.generation, copier.position, copier.events, seconds, live)
