"""The write application's own reads of an aggregate (commands/application.py) on SQLite and
PostgreSQL: its stored topics alone."""

from __future__ import annotations

from eventsourcing.utils import get_topic

from commands.application import Topics
from domain.calendar import Todo
from domain.friends import friendship_id

START = "2026-12-10T09:00:00+00:00"


def test_topics_are_those_of_the_stored_events_in_order_and_none_for_no_events(container):
    one = Todo.add(10001, title="call", start=START)
    one.update(10001, title="call back")
    one.delete(10001)
    container.app.record(one)

    assert isinstance(container.app.recorder, Topics)  # the select of topics alone
    assert container.app.topics(one.id) == [
        stored.topic for stored in container.app.recorder.select_events(one.id)
    ]
    assert container.app.topics(one.id) == [
        get_topic(e) for e in (Todo.Added, Todo.Updated, Todo.Deleted)
    ]
    assert container.app.topics(friendship_id(10001, 10002)) == []
