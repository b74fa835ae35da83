"""`upare store upgrade` on SQLite and PostgreSQL (Redis): a store holding the v1 rows
(tests/fixtures/v1_user_events.json: claims at unkeyed ids, plain personal data) is refused at
start; once upgraded its claims hold, its rows are sealed in place, its aggregates load the
same and an erasure leaves nothing readable."""

from __future__ import annotations

import pytest

from commands.erasure import EraseUser
from commands.users import RegisterUser, free_email, load_user
from domain.errors import UpareError
from tests.backends import backend_settings  # noqa: F401 (the settings fixture)
from tests.integration.test_erasure import dump, stored_text
from tests.integration.test_upcasting import UID, store_v1_rows
from upare import store_schema
from upare.bootstrap import bootstrap

OLD_EMAIL = "ada@example.com"  # claimed at its v1 id in the fixture
PLAIN = (
    OLD_EMAIL,
    "ada.lovelace@example.com",
    "Ada Lovelace",
    "+8613800138000",
    "11010519491231002X",
    "St James",
    "o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
    "argon2id",
)


@pytest.fixture
def old_store(container):
    """The container's store holding the v1 rows, unmarked as a v1 store is."""
    store_v1_rows(container)
    db = store_schema._db(container.app)
    with db.transaction() as tx:
        tx.execute(f"DELETE FROM {store_schema.TABLE}")
    return container


def upgrade(container) -> store_schema.Upgraded:
    reports: list[tuple[int, int]] = []
    head = container.log.head()
    done = store_schema.upgrade(container.app, container.log, lambda *r: reports.append(r))
    assert reports[-1] == (2 * head, 2 * head)  # the bar ends full
    return done


def rows(container) -> list[tuple[int, str, int, str]]:
    return [
        (n.id, str(n.originator_id), n.originator_version, n.topic)
        for n in container.log.notifications(0, 1000)
    ]


def test_a_process_refuses_to_start_on_a_store_with_v1_rows(old_store, settings):
    with pytest.raises(store_schema.OutdatedStore) as refused:
        bootstrap(settings)
    assert "run `upare store upgrade`" in str(refused.value.code)

    upgrade(old_store)

    bootstrap(settings).close()  # starts


def test_a_fresh_store_is_marked_current(container):
    assert store_schema.version(store_schema._db(container.app)) == store_schema.CURRENT


def test_after_the_upgrade_an_old_claim_holds_and_the_rows_are_sealed(old_store):
    assert free_email(old_store.app, OLD_EMAIL) == OLD_EMAIL  # the hole: a keyed lookup misses
    before = load_user(old_store.app, UID)
    positions = rows(old_store)

    done = upgrade(old_store)

    assert (done.claims, done.rows, done.conflicts) == (1, 9, [])  # 8 User, 1 Index.Claimed
    with pytest.raises(UpareError) as refused:
        old_store.bus.execute(RegisterUser(username="ada2", password="x" * 10, email=OLD_EMAIL))
    assert refused.value.code == 202003
    text = stored_text(old_store)
    assert not [value for value in PLAIN if value in text]
    assert rows(old_store)[: len(positions)] == positions  # the same positions and versions
    after = load_user(old_store.app, UID)
    assert vars(after) == vars(before)


def test_the_upgrade_is_idempotent(old_store):
    upgrade(old_store)
    text = stored_text(old_store)

    again = upgrade(old_store)

    assert (again.claims, again.rows) == (0, 0)
    assert stored_text(old_store) == text


def test_an_upgraded_user_once_erased_leaves_nothing_readable(old_store):
    upgrade(old_store)

    old_store.bus.execute(EraseUser(uid=UID))

    text = dump(old_store)
    assert "ada" in text  # readable: the username is not personal data
    assert not [value for value in PLAIN if value in text]
