"""The read side's own reads of the store's log (`EventLog`): the same events, in the same
order and range, as eventsourcing's `select_notifications`, and personal data opened with the
keys read beside them (an erased person's read as erased)."""

from __future__ import annotations

from domain.passwords import hash_password
from domain.users import User
from upare.bootstrap import bootstrap


def test_pages_are_select_notifications_with_ids_as_text(container):
    password_hash = hash_password("correct horse battery")
    users = [
        User.register(
            uid=uid, username=f"u{uid}", email=f"u{uid}@x.io", password_hash=password_hash
        )
        for uid in range(10001, 10008)
    ]
    container.app.save(*users)
    log, recorder = container.log, container.app.recorder
    for after, limit, stop in [(0, 100, None), (2, 3, None), (1, 100, 5), (7, 10, None)]:
        expected = [
            (n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
            for n in recorder.select_notifications(
                after, limit, stop=stop, inclusive_of_start=False
            )
        ]
        assert [tuple(stored) for stored in log.notifications(after, limit, stop)] == expected
        assert [tuple(stored) for stored in log.page(after, limit, stop)] == expected


def test_a_fresh_reader_opens_personal_data_and_reads_the_erased_as_erased(container):
    password_hash = hash_password("correct horse battery")
    kept, erased = (
        User.register(
            uid=uid, username=f"u{uid}", email=f"u{uid}@x.io", password_hash=password_hash
        )
        for uid in (10001, 10002)
    )
    container.app.save(kept, erased)
    container.app.vault.erase(str(erased.id))

    with bootstrap(container.settings) as fresh:  # no key cached
        events = {event.originator_id: event for event in fresh.log.read(0, 100)}
    assert events[str(kept.id)].data["personal"]["email"] == "u10001@x.io"
    assert events[str(erased.id)].data["personal"] is None
