"""Crypto-shredding on SQLite (SQLite cache) and PostgreSQL (Redis): personal data is sealed in
the store, and after `users erase` neither the store, its log, the read models, the cache nor a
dump of the database shows it."""

from __future__ import annotations

import json
import re
import subprocess
import uuid

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from commands.calendar import AddTodo
from commands.erasure import EraseUser
from commands.friends import EndFriendship, MakeFriend
from commands.profiles import ModifyBasicInfo, ModifyDetailInfo
from commands.users import RegisterUser, free_email, load_user
from domain.errors import UpareError
from domain.users import User, user_id
from projections import outbox
from projections.users import UsersProjection
from queries import calendar, friends, inbox
from tests.backends import backend_settings  # noqa: F401 (the settings fixture)
from upare import codes
from upare.vault import KEY_TABLE
from workers import kafka
from workers.deliverer import ToInbox
from workers.relay import Relay
from workers.store_feed import StoreFeed

EMAIL, NAME, IDCARD, PHONE = (
    "ada.l@example.com",
    "Ada Lovelace",
    "11010519491231002X",
    "13800138000",
)
SECRETS = (EMAIL, NAME, IDCARD, PHONE)


def person(container) -> int:
    """Register Ada with a real name as nickname, a phone, her name and ID number; project."""
    bus = container.bus
    uid = bus.execute(RegisterUser(username="ada", password="correct horse", email=EMAIL))
    uid = uid.fields["uid"]
    bus.execute(ModifyBasicInfo(uid=uid, nickname=NAME, phone=PHONE))
    bus.execute(ModifyDetailInfo(uid=uid, details={"realname": NAME, "idcard": IDCARD}))
    project(container)
    return uid


def project(container) -> None:
    """Run both feeds (the read models', then the notifier's) until they are caught up."""
    for projections in (container.projections, container.notifier_projections):
        feed = StoreFeed(container.log, container.db, projections)
        while feed.run_once():
            pass


def social(container) -> tuple[int, int, int]:
    """Register Ada, Bob and Carol; Bob and Carol befriend Ada (she is their friend in common);
    Ada has a to-do event; project. Return their uids."""
    ada = person(container)
    bob, carol = (
        container.bus.execute(
            RegisterUser(username=name, password="correct horse", email=f"{name}@example.com")
        ).fields["uid"]
        for name in ("bob", "carol")
    )
    for uid in (bob, carol):
        container.bus.execute(MakeFriend(uid=uid, fid=ada))
    container.bus.execute(AddTodo(uid=ada, title="Note G", start="2026-12-10T09:00:00+00:00"))
    project(container)
    return ada, bob, carol


def stored_text(container) -> str:
    """Return every stored event's state, as the store holds it, as one text."""
    notifications = container.log.notifications(0, 100_000)
    return "\n".join(notification.state.decode() for notification in notifications)


def dump(container) -> str:
    """Return a dump of the whole database (store, keys, read models): pg_dump, or the SQLite
    files' bytes."""
    settings = container.settings
    if settings.is_postgres:
        done = subprocess.run(
            ["pg_dump", "--data-only", settings.database_url],
            capture_output=True,
            check=True,
        )
        # bytea (the stored events' states) dumps as hex: read it as the bytes it holds
        hexes = re.sub(
            r"\\x([0-9a-f]+)",
            lambda match: bytes.fromhex(match[1]).decode("latin-1"),
            done.stdout.decode(),
        )
        return hexes
    container.app.close()
    container.db.close()
    files = sorted(settings.data_dir.rglob("*.sqlite3*"))
    assert [path for path in files if path.name.endswith("-wal")]  # the cache's log is read too
    return b"".join(path.read_bytes() for path in files).decode("latin-1")


def test_the_store_holds_personal_data_only_sealed(container):
    uid = person(container)

    assert not [secret for secret in SECRETS if secret in stored_text(container)]
    user = load_user(container.app, uid)
    assert (user.email, user.nickname, user.phone) == (EMAIL, NAME, PHONE)
    assert user.details == {"realname": NAME, "idcard": IDCARD}
    row = container.db.fetchone(
        f"SELECT email, nickname, phone FROM {UsersProjection.view('profiles')} WHERE uid = ?",
        (uid,),
    )
    assert row == (EMAIL, NAME, PHONE)


def test_an_erased_person_leaves_nothing_readable_in_the_store_its_log_or_read_models(container):
    uid = person(container)

    container.bus.execute(EraseUser(uid=uid))
    project(container)

    with pytest.raises(UpareError) as refused:
        load_user(container.app, uid)
    assert refused.value.code == 202001
    assert free_email(container.app, EMAIL) == EMAIL  # the claim is released
    erased = [e for e in container.log.read(0, 1000) if e.originator_id == str(user_id(uid))]
    assert {e.type for e in erased} >= {"User.Registered", "User.Erased"}
    assert all(e.data.get("personal", None) is None for e in erased)
    assert container.db.fetchone(
        f"SELECT count(*) FROM {UsersProjection.view('profiles')} WHERE uid = ?", (uid,)
    ) == (0,)
    keys = container.app.vault.keys.db
    assert keys.fetchone(f"SELECT count(*) FROM {KEY_TABLE} WHERE wrapped <> ''") == (0,)
    text = dump(container)
    assert "ada" in text  # the dump is readable: the username is not personal data
    assert not [secret for secret in SECRETS if secret in text]


def test_an_erasure_drops_the_persons_verification_code(container):
    uid = person(container)
    cache, settings = container.cache, container.settings
    code = codes.issue(cache, settings, uid, "phone", codes.VERIFY, PHONE)
    assert cache.get(f"code:{uid}:email:{codes.VERIFY}") is not None  # register's mail's code

    container.bus.execute(EraseUser(uid=uid))

    assert codes.redeem(cache, settings, uid, "phone", codes.VERIFY, code) is None
    assert cache.get(f"code:{uid}:email:{codes.VERIFY}") is None


def test_an_erased_person_leaves_friend_lists_recommendations_inbox_calendar_and_notices(
    container,
):
    ada, bob, carol = social(container)
    db = container.db
    assert [f["uid"] for f in friends.friends(db, bob)] == [ada]
    assert [r["uid"] for r in friends.recommendations(db, bob, 10)] == [carol]
    assert inbox.messages(db, ada, 1, 10)["messages"]
    assert calendar.events(db, ada, everything=True)
    owners = (ada, str(ada), str(user_id(ada)))
    social_models = [*container.projections[1:], *container.notifier_projections]

    container.bus.execute(EraseUser(uid=ada))
    project(container)

    assert friends.friends(db, bob) == friends.friends(db, carol) == []
    assert friends.recommendations(db, bob, 10) == []
    assert inbox.messages(db, ada, 1, 10)["messages"] == []
    assert calendar.events(db, ada, everything=True) == []
    for cls in social_models:
        for table in cls.tables:
            rows = db.fetchall(f"SELECT * FROM {cls.view(table)}")
            assert not [row for row in rows if any(cell in owners for cell in row)], (cls, table)
    mutual = db.fetchall(f"SELECT low, high, count FROM {friends.MUTUAL}")
    assert mutual == []  # Bob and Carol had only Ada in common


def test_friendmake_with_an_erased_person_is_202001(container):
    ada, bob, _ = social(container)
    container.bus.execute(EraseUser(uid=ada))

    for command in (MakeFriend(uid=bob, fid=ada), EndFriendship(uid=bob, fid=ada)):
        with pytest.raises(UpareError) as refused:
            container.bus.execute(command)
        assert refused.value.code == 202001


def test_a_rebuild_of_every_read_model_after_an_erasure_has_no_trace_of_the_person(container):
    ada, _, _ = social(container)
    container.bus.execute(EraseUser(uid=ada))
    owners = (ada, str(ada), str(user_id(ada)))

    with container.db.transaction() as tx:
        for cls in container.every_projection:
            projection = cls(generation=9, replay=True)
            for table, columns in cls.tables.items():
                tx.execute(f"CREATE TABLE {projection.table(table)} ({columns})")
            for event in container.log.read(0, 1000):
                if projection.wants(event.topic):
                    projection.apply(tx, event)
            for table in cls.tables:
                rows = tx.fetchall(f"SELECT * FROM {projection.table(table)}")
                assert len(rows) == 2 or cls.name != "users"  # Bob's and Carol's profiles
                assert not [r for r in rows if any(c in owners for c in r)], (cls.name, table)


@pytest.fixture
def kafka_config(settings, kafka_bootstrap):
    """A Kafka topic of this test's own, deleted afterwards."""
    config = kafka.KafkaConfig(
        bootstrap=kafka_bootstrap, topic=f"upare.test.erasure.{uuid.uuid4().hex[:10]}", partitions=2
    )
    yield config
    admin = KafkaAdminClient(bootstrap_servers=config.servers)
    try:
        admin.delete_topics([config.topic])
    finally:
        admin.close()


def relay(container, config: kafka.KafkaConfig) -> None:
    """Publish the whole store to the topic, as the relay does."""
    relayer = Relay(container.log, container.db, config)
    relayer.start(kafka.ensure_topic(config))
    producer = kafka.producer(config)
    try:
        while relayer.publish_page(producer):
            pass
    finally:
        producer.close(timeout=5)


def topic_dump(config: kafka.KafkaConfig) -> list[bytes]:
    """Return every message value on the topic, from its beginning to its end."""
    consumer = KafkaConsumer(bootstrap_servers=config.servers, enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(config.topic, number)
            for number in consumer.partitions_for_topic(config.topic) or ()
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        values: list[bytes] = []
        while any(consumer.position(part) < end for part, end in ends.items()):
            for records in consumer.poll(timeout_ms=1000).values():
                values += [record.value for record in records]
        return values
    finally:
        consumer.close()


@pytest.mark.kafka
def test_a_kafka_topic_of_the_store_has_nothing_readable_of_an_erased_person(
    container, kafka_config
):
    uid = person(container)
    relay(container, kafka_config)
    before = topic_dump(kafka_config)
    decoded = [kafka.decode(value, container.log) for value in before]
    assert EMAIL in json.dumps([e.data for e in decoded], default=str)  # readable with her key
    assert not [s for s in SECRETS if s.encode() in b"".join(before)]  # on the wire: sealed

    container.bus.execute(EraseUser(uid=uid))
    relay(container, kafka_config)

    values = topic_dump(kafka_config)
    assert len(values) == container.log.head() > len(before)  # User.Erased and the releases
    assert not [s for s in SECRETS if s.encode() in b"".join(values)]
    decoded = [kafka.decode(value, container.log) for value in values]
    hers = [event for event in decoded if event.originator_id == str(user_id(uid))]
    assert hers and all(event.data.get("personal") is None for event in hers)
    text = json.dumps([event.data for event in decoded], default=str)
    assert not [secret for secret in SECRETS if secret in text]


def test_erasing_again_answers_nothing_and_an_unknown_uid_is_202001(container):
    uid = person(container)
    assert container.bus.execute(EraseUser(uid=uid)).position is not None

    assert container.bus.execute(EraseUser(uid=uid)).position is None
    with pytest.raises(UpareError) as refused:
        container.bus.execute(EraseUser(uid=uid + 1))
    assert refused.value.code == 202001


def test_a_registration_after_an_erasure_may_take_the_email_again(container):
    uid = person(container)
    container.bus.execute(EraseUser(uid=uid))

    done = container.bus.execute(
        RegisterUser(username="ada2", password="correct horse", email=EMAIL)
    )

    assert load_user(container.app, done.fields["uid"]).email == EMAIL
    assert isinstance(load_user(container.app, done.fields["uid"]), User)


def befriended_by_ada(container) -> tuple[int, int]:
    """Register Ada and Bob (his email verified, so a notice is mailed too); Ada makes Bob her
    friend. Return their uids."""
    ada = person(container)
    bob = container.bus.execute(
        RegisterUser(username="bob", password="correct horse", email="bob@example.com")
    ).fields["uid"]
    user = load_user(container.app, bob)
    user.verify("email", "bob@example.com")
    container.app.record(user)
    container.bus.execute(MakeFriend(uid=ada, fid=bob))
    return ada, bob


def deliver_inbox(container) -> None:
    """Deliver the outbox's pending inbox messages, as the deliverer does (mails stay queued)."""
    to_inbox = ToInbox(container.bus)
    for row in outbox.listing(container.db, outbox.PENDING):
        if row.message.channel == outbox.INBOX:
            to_inbox.send(row.key, row.message)


def notices_naming(container, name: str) -> list[outbox.Delivery]:
    return [row for row in outbox.listing(container.db) if name in row.message.body]


def test_an_erased_maker_leaves_nothing_readable_of_the_new_friends_notice(container):
    ada, bob = befriended_by_ada(container)
    project(container)
    assert {row.message.channel for row in notices_naming(container, NAME)} == {"inbox", "mail"}
    deliver_inbox(container)
    project(container)
    texts = [m["text"] for m in inbox.messages(container.db, bob, 1, 10)["messages"]]
    assert f"{NAME} is now your friend" in texts
    assert NAME not in stored_text(container)  # Message.Sent: sealed with Ada's key

    container.bus.execute(EraseUser(uid=ada))

    assert notices_naming(container, NAME) == []  # the erasure took the outbox's rows
    project(container)
    texts = [m["text"] for m in inbox.messages(container.db, bob, 1, 10)["messages"]]
    assert texts and not [text for text in texts if NAME in text]  # his welcome stays
    sent = [e for e in container.log.read(0, 1000) if e.type == "Message.Sent"]
    about_ada = [e for e in sent if e.data["person"] == user_id(ada)]
    assert len(about_ada) == 2  # her welcome, Bob's notice
    assert all(e.data["personal"] is None for e in about_ada)
    text = dump(container)
    assert "bob@example.com" in text  # the dump is readable: Bob is not erased
    assert not [secret for secret in SECRETS if secret in text]


def test_a_notice_queued_after_its_makers_erasure_is_stored_unreadable_and_dropped(container):
    ada, bob = befriended_by_ada(container)
    read_models = StoreFeed(container.log, container.db, container.projections)
    while read_models.run_once():
        pass
    container.bus.execute(EraseUser(uid=ada))
    # the notices see the friendship while the users read model has not seen the erasure
    # yet: they read her nickname and queue the notice, which the deliverer then saves
    notifier = StoreFeed(container.log, container.db, container.notifier_projections)
    while notifier.run_once():
        pass
    assert {row.message.channel for row in notices_naming(container, NAME)} == {"inbox", "mail"}
    deliver_inbox(container)

    project(container)

    assert notices_naming(container, NAME) == []  # the notices' erasure took them
    notice = [e for e in container.log.read(0, 1000) if e.type == "Message.Sent"][-1]
    assert (notice.data["uid"], notice.data["personal"]) == (bob, None)  # stored unreadable
    keys = container.app.vault.keys.db
    hers = keys.fetchone(f"SELECT wrapped FROM {KEY_TABLE} WHERE owner = ?", (str(user_id(ada)),))
    assert hers == ("",)  # no new key was made for her
    messages = inbox.messages(container.db, bob, 1, 10)["messages"]
    assert not [message for message in messages if NAME in message["text"]]
    text = dump(container)
    assert not [secret for secret in SECRETS if secret in text]
