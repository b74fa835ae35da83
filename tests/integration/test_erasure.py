"""Crypto-shredding on SQLite (SQLite cache) and PostgreSQL (Redis): personal data is sealed in
the store, and after `users erase` neither the store, its log, the read models, the cache nor a
dump of the database shows it."""

from __future__ import annotations

import subprocess

import pytest

from commands.erasure import EraseUser
from commands.profiles import ModifyBasicInfo, ModifyDetailInfo
from commands.users import RegisterUser, free_email, load_user
from domain.errors import UpareError
from domain.users import User, user_id
from projections.users import UsersProjection
from tests.backends import backend_settings  # noqa: F401 (the settings fixture)
from upare import codes
from upare.vault import KEY_TABLE
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
    feed = StoreFeed(container.log, container.db, container.projections)
    while feed.run_once():
        pass


def stored_text(container) -> str:
    """Return every stored event's state, as the store holds it, as one text."""
    notifications = container.log.notifications(0, 100_000)
    return "\n".join(notification.state.decode() for notification in notifications)


def dump(container) -> str:
    """Return a dump of the whole database: pg_dump, or the SQLite files' bytes."""
    settings = container.settings
    if settings.is_postgres:
        done = subprocess.run(
            ["pg_dump", "--data-only", settings.database_url],
            capture_output=True,
            check=True,
        )
        return done.stdout.decode()
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
    assert container.app.vault.keys.db.fetchone(f"SELECT count(*) FROM {KEY_TABLE}") == (0,)
    text = dump(container)
    assert "ada" in text  # the dump is readable: the username is not personal data
    assert not [secret for secret in SECRETS if secret in text]


def test_a_rebuild_after_an_erasure_has_no_row_of_the_person(container):
    uid = person(container)
    container.bus.execute(EraseUser(uid=uid))
    projection = UsersProjection(generation=9, replay=True)

    with container.db.transaction() as tx:
        for table, columns in UsersProjection.tables.items():
            tx.execute(f"CREATE TABLE {projection.table(table)} ({columns})")
        for event in container.log.read(0, 1000):
            if projection.wants(event):
                projection.apply(tx, event)
        assert tx.fetchone(f"SELECT count(*) FROM {projection.table('profiles')}") == (0,)


def test_an_erasure_drops_the_persons_verification_code(container):
    uid = person(container)
    cache, settings = container.cache, container.settings
    code = codes.issue(cache, settings, uid, "phone", codes.VERIFY, PHONE)
    assert cache.get(f"code:{uid}:email:{codes.VERIFY}") is not None  # register's mail's code

    container.bus.execute(EraseUser(uid=uid))

    assert codes.redeem(cache, settings, uid, "phone", codes.VERIFY, code) is None
    assert cache.get(f"code:{uid}:email:{codes.VERIFY}") is None


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
