"""A command bus for unit tests, wired with every dependency the composition root gives
(upare/bootstrap.py `Container.bus`): the store under test, and the rest in a temp folder.

Binding checks every handler's dependencies (commands/handlers.bind), so a bus given only
what one test's commands need breaks as soon as another command needs more.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from commands.application import WriteApplication
from commands.handlers import Bus
from commands.users import Uids
from projections import outbox
from projections.sqlite import SqliteDB
from upare.bootstrap import utc_now
from upare.cache import SqliteCache
from upare.rate_limits import RateLimits
from upare.settings import Settings
from workers.mailer import Mailer


def bus(store: WriteApplication, folder: Path, **given: Any) -> Bus:
    """Return a bus over this store; `given` replaces a dependency (a clock, a cache ...)."""
    cache = given.get("cache") or SqliteCache(folder / "cache.sqlite3")
    settings = Settings(data_dir=folder, mail_url=f"file://{folder}/mail")
    db = SqliteDB(folder / "readmodels.sqlite3")
    with db.transaction() as tx:
        outbox.create(tx)  # register queues its code's mail
    dependencies = {
        "app": store,
        "uids": Uids(store),
        "cache": cache,
        "limits": RateLimits(cache),
        "db": db,
        "mailer": Mailer(settings.mail_url, settings.sms_url, settings.mail_from),
        "clock": utc_now,
        "settings": settings,
    }
    return Bus({**dependencies, **given})
