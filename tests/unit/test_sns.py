"""SNS tickets: what this server signed, unchanged and in time, names an identity; else 100004."""

from __future__ import annotations

import base64
import json

import pytest
from typer.testing import CliRunner

from domain.errors import UpareError
from upare import sns
from upare.cli import app as cli

KEY = "the server's secret"
NOW = 1_800_000_000.0
WEIBO = sns.Identity("weibo", "5501234567")


def refusal(ticket: str, key: str = KEY, now: float = NOW) -> str:
    with pytest.raises(UpareError) as refused:
        sns.read(key, ticket, now)
    assert refused.value.code == 100004
    assert refused.value.errors is not None
    return refused.value.errors["sns_ticket"]


def forged(document: object, key: str = KEY) -> str:
    """Return a ticket whose payload is any JSON, signed with `key`."""
    payload = base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()
    return f"{payload}.{sns._signature(key, payload)}"


def test_a_ticket_names_the_identity_it_was_issued_for_until_it_expires():
    ticket = sns.issue(KEY, WEIBO, NOW, ttl=60)

    assert sns.read(KEY, ticket, NOW + 59) == WEIBO
    assert refusal(ticket, now=NOW + 60) == "has expired"


def test_a_ticket_signed_with_another_key_is_refused():
    assert refusal(sns.issue("another key", WEIBO, NOW)) == "is not signed by this server"


@pytest.mark.parametrize("part", [0, 1], ids=["payload", "signature"])
def test_a_ticket_with_any_character_changed_is_refused(part):
    ticket = sns.issue(KEY, WEIBO, NOW)
    dot = ticket.index(".")
    for position in range(dot) if part == 0 else range(dot + 1, len(ticket)):
        changed = "A" if ticket[position] != "A" else "B"
        tampered = ticket[:position] + changed + ticket[position + 1 :]
        assert refusal(tampered) == "is not signed by this server"


def test_an_identity_swapped_into_a_signed_ticket_is_refused():
    ticket = sns.issue(KEY, WEIBO, NOW)
    other = sns.issue(KEY, sns.Identity("weibo", "someone-else"), NOW)
    spliced = ticket.split(".")[0] + "." + other.split(".")[1]

    assert refusal(spliced) == "is not signed by this server"


@pytest.mark.parametrize(
    "ticket",
    ["", "no-dot", ".", "payload.", ".signature", "a.b.c", "é.è", "%%%.%%%"],
)
def test_malformed_tickets_are_refused(ticket):
    assert refusal(ticket) in ("is not a ticket", "is not signed by this server")


@pytest.mark.parametrize(
    "document",
    [
        [1, 2],
        {"channel": "weibo", "openid": "x"},
        {"channel": "weibo", "openid": "x", "expires": "2100-01-01"},
        {"channel": "weibo", "openid": "x", "expires": True},
        {"channel": "Weibo", "openid": "x", "expires": 2**40},
        {"channel": "weibo", "openid": "has space", "expires": 2**40},
        {"channel": 7, "openid": "x", "expires": 2**40},
    ],
)
def test_a_signed_payload_that_is_no_ticket_is_refused(document):
    assert refusal(forged(document)) == "is not a ticket"


@pytest.mark.parametrize(
    ("channel", "openid"),
    [("", "x"), ("WEIBO", "x"), ("we ibo", "x"), ("weibo", ""), ("weibo", "a b"), ("q", "x" * 129)],
)
def test_only_well_formed_identities_get_tickets(channel, openid):
    with pytest.raises(ValueError):
        sns.issue(KEY, sns.Identity(channel, openid), NOW)


def test_the_cli_prints_a_ticket_signed_with_the_configured_key(monkeypatch):
    monkeypatch.setenv("UPARE_SECRET_KEY", KEY)
    printed = CliRunner().invoke(
        cli, ["sns", "ticket", "--channel", "qq", "--openid", "OPENID42", "--ttl", "30"]
    )

    assert printed.exit_code == 0, printed.output
    identity = sns.read(KEY, printed.output.strip(), NOW - 10**9)
    assert identity == sns.Identity("qq", "OPENID42")


@pytest.mark.parametrize(
    ("env", "args"),
    [
        ({}, ["--channel", "Not A Channel", "--openid", "x"]),
        (
            {"UPARE_ENV": "production", "UPARE_SECRET_KEY": KEY},
            ["--channel", "qq", "--openid", "x"],
        ),
    ],
)
def test_the_cli_refuses_a_bad_identity_and_production(monkeypatch, env, args):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    printed = CliRunner().invoke(cli, ["sns", "ticket", *args])

    assert printed.exit_code == 2
    assert "error:" in printed.output
