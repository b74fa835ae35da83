"""Probes for the orchestrator: `/healthz` (the process answers), `/readyz` (its backends do).

They answer plain JSON, not the envelope, and are documented apart from the API proper
(`OPENAPI`, tagged `operations`).
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as CheckTimeout

import falcon

from upare.bootstrap import Container

log = logging.getLogger(__name__)
CHECK_SECONDS = 2.0

OPENAPI = {
    "/healthz": {
        "get": {
            "summary": "Tell that the process is up",
            "tags": ["operations"],
            "responses": {"200": {"description": '`{"status": "ok"}`'}},
        }
    },
    "/readyz": {
        "get": {
            "summary": "Tell whether the event store, read db, cache and Kafka answer",
            "tags": ["operations"],
            "responses": {
                "200": {"description": '`{"status": "ok", "checks": {name: "ok"}}`'},
                "503": {"description": '`{"status": "unavailable", "failed": [names], ...}`'},
            },
        }
    },
}


def kafka_reachable(bootstrap: str) -> None:
    """Raise unless a TCP connection opens to one of the bootstrap servers."""
    failure: OSError = ConnectionError(f"no bootstrap server in {bootstrap!r}")
    for server in filter(None, (part.strip() for part in bootstrap.split(","))):
        host, _, port = server.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=CHECK_SECONDS).close()
            return
        except OSError as ex:
            failure = ex
    raise failure


class Healthz:
    """Answer while the process runs, whatever its backends do."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}


class Readyz:
    """Check each backend, at once and each within CHECK_SECONDS; 503 names those that failed."""

    def __init__(self, container: Container) -> None:
        self.checks: dict[str, Callable[[], object]] = {
            "store": container.log.head,
            "read_db": lambda: container.db.fetchone("SELECT 1"),
            "cache": container.cache.ping,
        }
        if container.settings.kafka_bootstrap:
            self.checks["kafka"] = lambda: kafka_reachable(container.settings.kafka_bootstrap)
        self.pool = ThreadPoolExecutor(len(self.checks), thread_name_prefix="upare-readyz")

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        deadline = time.monotonic() + CHECK_SECONDS
        futures = {name: self.pool.submit(check) for name, check in self.checks.items()}
        checks = {}
        for name, future in futures.items():
            try:
                future.result(timeout=max(0.0, deadline - time.monotonic()))
                checks[name] = "ok"
            except CheckTimeout:
                checks[name] = "timeout"
            except Exception as ex:  # any failure of a backend makes the process unready
                log.warning("readiness check %s failed: %r", name, ex)
                checks[name] = f"failed: {type(ex).__name__}"
        failed = [name for name, outcome in checks.items() if outcome != "ok"]
        if failed:
            resp.status = falcon.HTTP_503
            resp.media = {"status": "unavailable", "failed": failed, "checks": checks}
        else:
            resp.media = {"status": "ok", "checks": checks}
