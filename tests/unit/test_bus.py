"""The command bus: dependencies bound from the composition root, conflicts retried."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eventsourcing.persistence import IntegrityError

from commands import handlers
from commands.application import Done
from commands.handlers import Bus, bind
from domain.errors import UpareError


@dataclass(frozen=True, kw_only=True)
class Ping:
    text: str


def test_a_handler_gets_exactly_the_dependencies_it_names():
    def ping(command: Ping, *, clock, settings) -> Done:
        return Done(fields={"seen": (command.text, clock(), settings)})

    handler = bind(ping, {"clock": lambda: "noon", "settings": "s", "cache": "unused"})

    assert handler(Ping(text="hi")).fields == {"seen": ("hi", "noon", "s")}


def test_a_handler_needing_what_the_root_does_not_provide_fails_at_wiring_time():
    def ping(command: Ping, *, mailer) -> Done:
        return Done()

    with pytest.raises(TypeError, match="mailer"):
        bind(ping, {"clock": lambda: "noon"})


def test_a_version_conflict_reruns_the_command_until_it_goes_through(monkeypatch):
    runs = []

    def flaky(command: Ping) -> Done:
        runs.append(command)
        if len(runs) < 3:
            raise IntegrityError("another writer saved this version first")
        return Done(position=7)

    monkeypatch.setattr(handlers, "HANDLERS", {Ping: flaky})

    assert Bus({}).execute(Ping(text="x")).position == 7
    assert len(runs) == 3


def test_a_command_that_keeps_conflicting_gives_up_with_a_clear_code(monkeypatch):
    def hopeless(command: Ping) -> Done:
        raise IntegrityError("always someone faster")

    monkeypatch.setattr(handlers, "HANDLERS", {Ping: hopeless})

    with pytest.raises(UpareError) as refused:
        Bus({}).execute(Ping(text="x"))
    assert refused.value.code == 100001


def test_a_refusal_is_not_retried(monkeypatch):
    runs = []

    def refuses(command: Ping) -> Done:
        runs.append(command)
        raise UpareError(202002)

    monkeypatch.setattr(handlers, "HANDLERS", {Ping: refuses})

    with pytest.raises(UpareError):
        Bus({}).execute(Ping(text="x"))
    assert len(runs) == 1
