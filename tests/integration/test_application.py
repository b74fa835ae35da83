"""The write application's own reads of an aggregate (commands/application.py) on SQLite and
PostgreSQL: loading it by one select, None when it has none, and with it another's stored topics
alone."""

from __future__ import annotations

import pytest
from eventsourcing.utils import get_topic

from commands.application import Topics
from domain.calendar import Todo
from domain.friends import Friendship, friendship_id

START = "2026-12-10T09:00:00+00:00"


def test_load_with_topics_answers_the_aggregate_and_anothers_stored_topics_in_order(container):
    made = Friendship.make(10001, 10002)
    made.end(10002)
    one = Todo.add(10001, title="call", start=START)
    one.update(10001, title="call back")
    one.delete(10001)
    container.app.record(made, one)

    assert isinstance(container.app.recorder, Topics)  # one select of both
    loaded, topics = container.app.load_with_topics(Friendship, made.id, one.id)
    assert loaded is not None
    assert (loaded.version, loaded.active) == (2, False)
    assert topics == [stored.topic for stored in container.app.recorder.select_events(one.id)]
    assert topics == [get_topic(e) for e in (Todo.Added, Todo.Updated, Todo.Deleted)]


def test_load_with_topics_answers_none_and_no_topics_for_aggregates_without_events(container):
    one = Todo.add(10001, title="call", start=START)
    container.app.record(one)

    none = friendship_id(10001, 10002)
    assert container.app.load_with_topics(Friendship, none, one.id) == (
        None,
        [get_topic(Todo.Added)],
    )
    loaded, topics = container.app.load_with_topics(Todo, one.id, none)
    assert (loaded is not None, topics) == (True, [])


def test_load_answers_the_aggregate_as_stored_and_none_when_it_has_no_events(container):
    made = Friendship.make(10001, 10002)
    made.end(10002)
    made.make_again(10002)
    container.app.record(made)

    loaded = container.app.load(Friendship, made.id)
    assert loaded is not None
    assert (loaded.version, loaded.round, loaded.maker, loaded.active) == (3, 2, 10002, True)
    assert container.app.load(Friendship, friendship_id(10001, 10003)) is None


def test_load_refuses_an_id_of_another_kind_of_aggregate(container):
    one = Todo.add(10001, title="call", start=START)
    container.app.record(one)

    with pytest.raises(TypeError, match="no Friendship"):
        container.app.load(Friendship, one.id)


def test_save_stores_an_aggregates_new_events_and_a_bare_event_in_one_go(container):
    made = Friendship.make(10001, 10002)
    other = Todo.add(10001, title="call", start=START)
    bare = other.collect_events()[0]  # an event given without its aggregate

    recordings = container.app.save(made, None, bare)

    assert [r.domain_event.originator_id for r in recordings] == [made.id, other.id]
    assert made.collect_events() == []  # collected, as eventsourcing's save does
    assert container.app.load(Friendship, made.id).version == 1
    assert container.app.load(Todo, other.id).title == "call"
