"""Queries' reads answered from the process's memory while no projection has moved.

Every feed NOTIFYs when it commits read-model rows (`catalog.notify_progress`), and the
process's listener counts each NOTIFY (`projections.wakeup.Listen`): a read's answer is kept
with the count it was read at, and answers again only while the count has not moved and for at
most `max_age` seconds (a net for a writer that would not NOTIFY). A read during which the count
moved is not kept; while nobody listens (SQLite, or the listener reconnecting) nothing is.

An answer kept is at most as old as the listener's last NOTIFY: a query that must see a given
position (read-your-writes, `min_position`) reads the database instead (api/freshness.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from projections.database import ReadDB, Row, Wakeup


class ReadCache:
    """`fetchone` and `fetchall` of a read-model database, their answers kept (see above)."""

    def __init__(
        self, db: ReadDB, wakeup: Wakeup, size: int = 10_000, max_age: float = 1.0
    ) -> None:
        self.db = db
        self.wakeup = wakeup
        self.size = size
        self.max_age = max_age
        # (fetch, sql, params): (the count it was read at, when it expires, the answer)
        self._answers: dict[tuple[Any, ...], tuple[int, float, Any]] = {}

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        answer: Row | None = self._answer("one", sql, params)
        return answer

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Row]:
        """Return the rows as a tuple: one answer serves every thread, none may change it."""
        answer: Sequence[Row] = self._answer("all", sql, params)
        return answer

    def _read(self, fetch: str, sql: str, params: Sequence[Any]) -> Any:
        if fetch == "one":
            return self.db.fetchone(sql, params)
        return tuple(self.db.fetchall(sql, params))

    def _answer(self, fetch: str, sql: str, params: Sequence[Any]) -> Any:
        mark = self.wakeup.mark()
        if not self.wakeup.listening:
            return self._read(fetch, sql, params)
        key = (fetch, sql, *params)
        now = time.monotonic()
        kept = self._answers.get(key)
        if kept is not None and kept[0] == mark and kept[1] > now:
            return kept[2]
        answer = self._read(fetch, sql, params)
        if self.wakeup.mark() == mark and self.wakeup.listening:  # nothing moved meanwhile
            if len(self._answers) >= self.size:
                self._answers.clear()
            self._answers[key] = (mark, now + self.max_age, answer)
        return answer
