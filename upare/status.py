"""How far the event pipeline has got, for operators: each projection's watermark and lag
(against the event store's log), dead letters, the generation kept for a rollback, the relay's
position."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from projections.base import Projection
from projections.database import ReadDB
from projections.dead_letters import OPEN as OPEN_LETTERS
from projections.dead_letters import TABLE as DEAD_LETTERS
from projections.events import EventLog
from projections.watermark import watermark

RELAY_POSITION = "relay_position"


@dataclass(frozen=True)
class ProjectionStatus:
    """One projection: its live generation, its watermark and how far behind the store it is."""

    name: str
    generation: int | None
    watermark: int
    lag_events: int
    lag_seconds: float
    dead_letters: int
    kept: int | None = None  # the generation `rebuild --keep` kept beside the live one
    kept_version: int | None = None  # the projection version it was built with (None: never)
    can_roll_back: bool = False  # a kept generation of this code's version (`rollback NAME`)


@dataclass(frozen=True)
class PipelineStatus:
    """The store's last position, every projection's status, and the relay's position."""

    head: int
    projections: list[ProjectionStatus]
    relay_position: int | None  # None: no relay (embedded feed), or it has not run yet


def oldest_unapplied_age(log: EventLog, position: int) -> float:
    """Return how many seconds ago the first event after `position` was stored (0 if none)."""
    after = log.read(position, 1)
    if not after:
        return 0.0
    stored = after[0].timestamp
    return max(0.0, (datetime.now(UTC) - stored).total_seconds())


def dead_letter_counts(db: ReadDB) -> dict[str, int]:
    """Return the open dead letters of each projection's live generation (none: no table)."""
    if not db.table_exists(DEAD_LETTERS):
        return {}
    rows = db.fetchall(
        f"SELECT d.projection, count(*) FROM {DEAD_LETTERS} d JOIN projection_state s"
        " ON s.name = d.projection AND s.generation = d.generation"
        f" WHERE d.status IN ({', '.join('?' * len(OPEN_LETTERS))}) GROUP BY d.projection",
        OPEN_LETTERS,
    )
    return {row[0]: int(row[1]) for row in rows}


def relay_position(db: ReadDB) -> int | None:
    """Return the last position the relay published to Kafka, None before it ever ran."""
    if not db.table_exists(RELAY_POSITION):
        return None
    row = db.fetchone(f"SELECT max(position) FROM {RELAY_POSITION}")
    return None if row is None or row[0] is None else int(row[0])


def pipeline_status(
    log: EventLog, db: ReadDB, projection_classes: list[type[Projection]], relay: bool
) -> PipelineStatus:
    """Return where the store, each projection and (when `relay`, i.e. on Kafka) the relay are."""
    head = log.head()
    generations: dict[str, int] = dict(db.fetchall("SELECT name, generation FROM projection_state"))
    kept = {
        str(name): (int(generation), version)
        for name, generation, version in db.fetchall(
            "SELECT name, generation, version FROM projection_kept"
        )
    }
    letters = dead_letter_counts(db)
    statuses = []
    for cls in projection_classes:
        mark = watermark(db, cls.name)
        kept_generation, kept_version = kept.get(cls.name, (None, None))
        statuses.append(
            ProjectionStatus(
                name=cls.name,
                generation=generations.get(cls.name),
                watermark=mark,
                lag_events=max(0, head - mark),
                lag_seconds=oldest_unapplied_age(log, mark) if head > mark else 0.0,
                dead_letters=letters.get(cls.name, 0),
                kept=kept_generation,
                kept_version=kept_version,
                can_roll_back=kept_generation is not None and kept_version == cls.version,
            )
        )
    return PipelineStatus(head, statuses, relay_position(db) if relay else None)
