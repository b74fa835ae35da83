"""The notifier on Kafka, in a consumer group of its own (its own topic and groups here): the
read models catch up without it, and rewinding its group's offsets sends no second mail."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from projections import outbox
from projections.watermark import watermark
from tests.integration.smtp import SmtpServer
from tests.integration.test_notifier import befriend, outcome, register, texts, wired
from upare.bootstrap import Container
from upare.cli_outbox import deliverer_loop
from upare.cli_pipeline import notifier_loops, projector_loop, relay_loop, run_loops
from upare.settings import Settings
from workers.mailer import message_id

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def until(condition: Callable[[], bool], why: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not in {timeout} s: {why}")
        time.sleep(0.05)


@contextmanager
def running(loops: list[Callable[[threading.Event], None]]) -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=run_loops, args=(loops, stop))
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()


def rewind(settings: Settings, group: str) -> None:
    """Commit offset 0 on every partition for a consumer group that has no member now."""
    consumer = KafkaConsumer(
        bootstrap_servers=[settings.kafka_bootstrap], group_id=group, enable_auto_commit=False
    )
    try:
        partitions = [
            TopicPartition(settings.kafka_topic, number)
            for number in sorted(consumer.partitions_for_topic(settings.kafka_topic) or ())
        ]
        consumer.assign(partitions)
        consumer.commit({tp: OffsetAndMetadata(0, "", -1) for tp in partitions})
    finally:
        consumer.close(autocommit=False)


def committed(settings: Settings, group: str) -> tuple[dict[int, int], dict[int, int]]:
    """Return a group's committed offsets and the topic's end offsets, by partition."""
    consumer = KafkaConsumer(bootstrap_servers=[settings.kafka_bootstrap], group_id=group)
    try:
        numbers = consumer.partitions_for_topic(settings.kafka_topic) or set()
        partitions = [TopicPartition(settings.kafka_topic, number) for number in numbers]
        ends = consumer.end_offsets(partitions)
        offsets = {tp.partition: consumer.committed(tp) or 0 for tp in partitions}
        return offsets, {tp.partition: end for tp, end in ends.items()}
    finally:
        consumer.close(autocommit=False)


def group_caught_up(settings: Settings, group: str) -> bool:
    offsets, ends = committed(settings, group)
    return offsets == ends


def caught_up(container: Container, names: list[str]) -> bool:
    head = container.log.head()
    return all(watermark(container.db, name) >= head for name in names)


def test_the_notifier_has_its_own_group_and_a_rewound_group_sends_no_second_mail(
    postgres_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    token = uuid.uuid4().hex[:10]
    settings = Settings(
        data_dir=tmp_path,
        database_url=postgres_url,
        kafka_bootstrap=kafka_bootstrap,
        kafka_topic=f"upare.test.notifier.{token}",
        kafka_partitions=2,
        kafka_group=f"upare-test-{token}",
        kafka_session_timeout_ms=6000,
    )
    alice, bob = register(settings, "alice", "bob")
    read_models = ["users", "messages", "clients"]
    with SmtpServer() as server, wired(settings, server.url) as container:
        fid = befriend(container, alice, bob)
        notifier = [*notifier_loops(container), deliverer_loop(container)]
        with running([relay_loop(container), projector_loop(container)]):
            until(lambda: caught_up(container, read_models), "the read models caught up")
            assert watermark(container.db, "notices") == 0  # no notifier ran: nothing held back
            assert outbox.listing(container.db, outbox.PENDING) == []

            group = f"{settings.kafka_group}-notifier"
            with running(notifier):
                until(lambda: outcome(container, fid) == "notified", "notified")
                until(lambda: caught_up(container, read_models), "the outcome projected")
                # the outcome's own event reaches the topic after the notice was sent
                until(lambda: group_caught_up(settings, group), "the notifier's group caught up")
            assert texts(container, bob) == [("alice is now your friend", 0)]

            offsets, ends = committed(settings, group)
            assert offsets == ends and sum(ends.values()) > 0  # its own group, caught up
            rewind(settings, group)
            assert set(committed(settings, group)[0].values()) == {0}
            with running(notifier):  # it reads the topic again from the start
                until(lambda: committed(settings, group)[0] == ends, "the rewound group read")
                time.sleep(1)  # anything it queued again would be delivered now

        assert server.inbox.message_ids() == Counter({message_id(f"notices:{fid}:1:mail"): 1})
        notices = [row.key for row in outbox.listing(container.db) if row.key.startswith("not")]
        assert sorted(notices) == [f"notices:{fid}:1:inbox", f"notices:{fid}:1:mail"]
        assert texts(container, bob) == [("alice is now your friend", 0)]
