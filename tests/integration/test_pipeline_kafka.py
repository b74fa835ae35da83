"""The relay and the projector through a real Kafka broker: crashes, a broker restart, poison.

Each test has its own topic, consumer group and database, so they are independent. The read
models must end up equal, row for row, to a generation built straight from the event store.
"""

from __future__ import annotations

import random
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from projections import PROJECTIONS, catalog, dead_letters
from projections.apply import Retry, retry_parked
from projections.rebuild import rebuild
from projections.watermark import watermark
from tests.integration.fleet import ROOT, Fleet
from tests.integration.tally import (
    POISON,
    Counter,
    TallyProjection,
    forgiving,
    reference,
    rows,
    stream,
)
from upare.bootstrap import Container, bootstrap
from upare.cli_pipeline import run_loops
from upare.settings import Settings
from workers.kafka import KafkaConfig
from workers.projector import Projector
from workers.relay import Relay

pytestmark = pytest.mark.kafka
SERVICES = ROOT / "scripts" / "services.sh"


def pipeline_env(database_url: str, bootstrap: str, data_dir: Path) -> dict[str, str]:
    token = uuid.uuid4().hex[:10]
    return {
        "UPARE_DATABASE_URL": database_url,
        "UPARE_DATA_DIR": str(data_dir),
        "UPARE_KAFKA_BOOTSTRAP": bootstrap,
        "UPARE_KAFKA_TOPIC": f"upare.test.{token}",
        "UPARE_KAFKA_GROUP": f"upare-test-{token}",
        "UPARE_KAFKA_SESSION_TIMEOUT_MS": "6000",
        "UPARE_PROJECTION_BACKOFF_MS": "10",
    }


@contextmanager
def wired(env: dict[str, str]) -> Iterator[Container]:
    """Wire this process like the workers, with the tally projection installed too."""
    container = bootstrap(Settings.from_env(env), [*PROJECTIONS, TallyProjection])
    try:
        yield container
    finally:
        container.close()


def wait_until_projected(container: Container, fleet: Fleet | None, timeout: float = 120) -> None:
    """Wait until every projection's watermark reaches the store's last position."""
    head = container.log.head()
    deadline = time.monotonic() + timeout
    while any(watermark(container.db, cls.name) < head for cls in container.projections):
        if time.monotonic() > deadline:
            marks = {cls.name: watermark(container.db, cls.name) for cls in container.projections}
            pytest.fail(f"not projected up to {head}: {marks}\n{fleet.tails() if fleet else ''}")
        time.sleep(0.1)


def assert_equal_to_a_rebuild(container: Container) -> None:
    assert dead_letters.listing(container.db) == []
    for cls in container.projections:
        with container.db.transaction(write=False) as tx:
            live = cls(catalog.live_generation(tx, cls.name) or 0)
        rebuilt = reference(container.log, container.db, cls)
        assert rows(container.db, live) == rows(container.db, rebuilt), cls.name
    with container.db.transaction(write=False) as tx:
        live = TallyProjection(catalog.live_generation(tx, TallyProjection.name) or 0)
    assert rows(container.db, live)["counters"], "the stream made no counters"


@pytest.mark.postgres
def test_killing_the_relay_and_the_projectors_at_random_points_changes_no_read_model(
    postgres_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    env = pipeline_env(postgres_url, kafka_bootstrap, tmp_path)
    rng = random.Random()
    with wired(env) as container:
        fleet = Fleet(env, tmp_path)
        fleet.start("relay", "relay", tally=False)  # the real `upare relay`
        fleet.start("projector-1", "projector", UPARE_KAFKA_INSTANCE_ID="p1")
        fleet.start("projector-2", "projector", UPARE_KAFKA_INSTANCE_ID="p2")
        first = ["relay", "projector-1", "projector-2"]  # each once, then the relay twice as often
        later = ["relay", "relay", "projector-1", "projector-2"]
        next_kill = time.monotonic() + rng.uniform(0.5, 1.5)
        try:
            for _ in stream(container.app, 20_000, pause=lambda: time.sleep(0.1)):
                if time.monotonic() >= next_kill:  # often while a restarted relay catches up
                    fleet.restart(first[fleet.kills] if fleet.kills < 3 else rng.choice(later))
                    next_kill = time.monotonic() + rng.uniform(1.0, 2.5)
            wait_until_projected(container, fleet)
        finally:
            codes = fleet.stop()
        assert fleet.kills >= 4
        assert set(codes.values()) == {0}, fleet.tails()
        assert container.log.head() >= 20_000
        assert_equal_to_a_rebuild(container)


def broker_answers(bootstrap: str) -> bool:
    host, port = bootstrap.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def restart_broker(bootstrap: str, down: threading.Event) -> None:
    subprocess.run(["bash", str(SERVICES), "kafka-stop"], check=True, timeout=180)
    if not broker_answers(bootstrap):
        down.set()
    time.sleep(2)
    subprocess.run(["bash", str(SERVICES), "kafka-start"], check=True, timeout=300)


@pytest.mark.outage
def test_restarting_the_broker_mid_stream_changes_no_read_model(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    env = pipeline_env(f"sqlite:///{tmp_path}/db", kafka_bootstrap, tmp_path)
    with wired(env) as container:
        fleet = Fleet(env, tmp_path)
        fleet.start("worker", "worker")  # relay and projector threads in one process
        down = threading.Event()
        restart = threading.Thread(target=restart_broker, args=(kafka_bootstrap, down))
        try:
            for saves, _ in enumerate(stream(container.app, 1_000_000, per_save=100), 1):
                time.sleep(0.05)
                if saves == 20:
                    restart.start()
                if saves > 40 and not restart.is_alive():
                    break
            wait_until_projected(container, fleet)
        finally:
            restart.join(timeout=300)
            if not broker_answers(kafka_bootstrap):
                subprocess.run(["bash", str(SERVICES), "kafka-start"], timeout=300)
            codes = fleet.stop()
        assert down.is_set(), "the broker did not go down (not started by scripts/services.sh?)"
        assert codes == {"worker": 0}, fleet.tails()
        assert_equal_to_a_rebuild(container)


def test_a_poison_event_is_parked_and_the_rest_go_on(kafka_bootstrap: str, tmp_path: Path):
    env = pipeline_env(f"sqlite:///{tmp_path}/db", kafka_bootstrap, tmp_path)
    with wired(env) as container:
        config = KafkaConfig.from_settings(container.settings)
        retry = Retry(attempts=2, backoff=0.01)
        loops = [
            Relay(container.log, container.db, config).run,
            Projector(container.log, container.db, container.projections, config, retry).run,
        ]
        stop = threading.Event()
        workers = threading.Thread(target=run_loops, args=(loops, stop))
        workers.start()
        try:
            victim, other = Counter(name="victim"), Counter(name="other")
            for amount in (1, POISON, 2, 3):
                victim.add(amount=amount)
                if amount != POISON:
                    other.add(amount=amount)
            container.app.save(victim, other)
            for _ in stream(container.app, 2000):
                pass
            wait_until_projected(container, None, timeout=60)
            letters = dead_letters.listing(container.db)
            totals = dict(container.db.fetchall("SELECT id, total FROM tally_counters"))
            with forgiving():
                still_open = retry_parked(container.db, TallyProjection, str(victim.id))
            after = dict(container.db.fetchall("SELECT id, total FROM tally_counters"))
        finally:
            stop.set()
            workers.join(timeout=30)
        assert [(x.event.version, x.status) for x in letters] == [
            (3, "parked"),
            (4, "waiting"),
            (5, "waiting"),
        ]
        assert letters[0].attempts == 3
        assert "poison" in letters[0].error
        assert totals[str(victim.id)] == 1
        assert totals[str(other.id)] == after[str(other.id)] == 1 + 2 + 3
        assert still_open == 0
        assert after[str(victim.id)] == 1 + POISON + 2 + 3
        assert dead_letters.listing(container.db) == []


def test_after_a_rebuild_the_projector_goes_on_with_the_new_generation(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    env = pipeline_env(f"sqlite:///{tmp_path}/db", kafka_bootstrap, tmp_path)
    with wired(env) as container:
        config = KafkaConfig.from_settings(container.settings)
        loops = [
            Relay(container.log, container.db, config).run,
            Projector(container.log, container.db, container.projections, config).run,
        ]
        stop = threading.Event()
        workers = threading.Thread(target=run_loops, args=(loops, stop))
        workers.start()
        try:
            writes = stream(container.app, 1_000_000, per_save=50, seed=11)
            for _ in range(20):
                next(writes)
            wait_until_projected(container, None, timeout=60)
            assert rebuild(container.log, container.db, TallyProjection).generation == 2
            container.app.save(Counter(name="late"))  # the other partitions stay idle
            wait_until_projected(container, None, timeout=15)
            for _ in range(20):
                next(writes)
            wait_until_projected(container, None, timeout=60)
        finally:
            stop.set()
            workers.join(timeout=30)
        assert_equal_to_a_rebuild(container)
