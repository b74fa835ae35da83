"""snsreg and unbind in process on the embedded default: every code path."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from commands.sns import sns_kind
from commands.users import claimed
from domain.users import user_id
from projections import outbox
from tests.credentials import issue_token, open_session
from upare import sns

PASSWORD = "correct horse"


def ticket(container, openid: str = "5501234567", channel: str = "weibo", ttl: int = 600) -> str:
    identity = sns.Identity(channel, openid)
    return sns.issue(container.settings.secret_key, identity, time.time(), ttl)


def snsreg(client, sns_ticket: str, remote_addr: str = "127.0.0.1", **params):
    return client.simulate_post(
        "/api/User/snsreg", params={"sns_ticket": sns_ticket, **params}, remote_addr=remote_addr
    )


def reg(client, sns_ticket: str, username: str = "alice", **params):
    fields = {"type": "reg", "username": username, "password": PASSWORD, "confirm": PASSWORD}
    fields["email"] = f"{username}@example.com"
    return snsreg(client, sns_ticket, **{**fields, **params})


def log(client, sns_ticket: str, username: str = "alice", password: str = PASSWORD, **params):
    return snsreg(client, sns_ticket, type="log", username=username, password=password, **params)


def register(client, username: str) -> int:
    fields = {"username": username, "password": PASSWORD, "email": f"{username}@example.com"}
    return client.simulate_post("/api/User/register", params=fields).json["uid"]


def user(container, uid: int):
    return container.app.repository.get(user_id(uid))


def holder(container, openid: str = "5501234567", channel: str = "weibo"):
    return claimed(container.app, sns_kind(channel), openid)


def refused(answer, status: int, code: int) -> dict:
    assert (answer.status_code, answer.json["error_code"]) == (status, code), answer.json
    return answer.json


def test_reg_opens_an_account_bound_to_the_tickets_identity(client, embedded, project):
    answer = reg(client, ticket(embedded))

    assert answer.status_code == 200
    uid = answer.json["uid"]
    assert answer.json["position"] >= 1
    assert user(embedded, uid).sns == {"weibo": "5501234567"}
    assert holder(embedded) == user_id(uid)
    project()
    info = client.simulate_post("/api/User/info", params={"uid": uid}).json["user"]
    assert info["username"] == "alice"


def test_reg_mails_the_new_accounts_verification_code_as_register_does(client, embedded):
    reg(client, ticket(embedded))

    [mail] = outbox.listing(embedded.db)
    assert (mail.message.to, mail.status) == ("alice@example.com", outbox.SENT)
    assert re.search(r"\b[0-9]{6}\b", mail.message.body)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"confirm": "correct horsf"}, "confirm"),
        ({"confirm": ""}, "confirm"),
        ({"email": ""}, "email"),
        ({"password": "short", "confirm": "short"}, "password"),
        ({"username": "a b", "email": "ab@example.com"}, "username"),
        ({"type": "signup"}, "type"),
    ],
)
def test_reg_refuses_a_bad_field_by_name_and_stores_nothing(client, embedded, params, field):
    body = refused(reg(client, ticket(embedded), **params), 400, 100004)

    assert field in body["errors"]
    assert embedded.log.head() == 0


def expired(container) -> str:
    identity = sns.Identity("weibo", "5501234567")
    return sns.issue(container.settings.secret_key, identity, time.time() - 601, 600)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda c: "not-a-ticket", "is not a ticket"),
        (lambda c: sns.issue("another key", sns.Identity("weibo", "1"), time.time()), "is not"),
        (expired, "has expired"),
    ],
    ids=["malformed", "foreign", "expired"],
)
def test_a_bad_ticket_is_refused_naming_sns_ticket(client, embedded, make, reason):
    register(client, "bob")
    for answer in (reg(client, make(embedded)), log(client, make(embedded), "bob")):
        body = refused(answer, 400, 100004)
        assert body["errors"]["sns_ticket"].startswith(reason)
    assert not claimed(embedded.app, "username", "alice")
    assert user(embedded, 10001).sns == {}


def test_the_ticket_is_required(client, embedded):
    body = refused(reg(client, ""), 400, 100004)
    assert body["errors"] == {"sns_ticket": "is required"}


@pytest.mark.parametrize(("taken", "code"), [("username", 202002), ("email", 202003)])
def test_reg_refuses_a_taken_username_or_email(client, embedded, taken, code):
    register(client, "alice")
    params = {"username": "ALICE"} if taken == "username" else {"email": "Alice@Example.com"}
    params = {"username": "bob", "email": "bob@example.com", **params}

    refused(reg(client, ticket(embedded), **params), 409, code)
    assert holder(embedded) is None


def test_log_binds_the_identity_to_the_account_the_credentials_prove(client, embedded):
    uid = register(client, "alice")

    by_name = log(client, ticket(embedded), "ALICE")  # by username or email, as at login
    by_email = log(client, ticket(embedded, channel="qq", openid="QQ1"), "alice@example.com")

    assert (by_name.status_code, by_name.json["uid"]) == (200, uid)
    assert (by_email.status_code, by_email.json["uid"]) == (200, uid)
    assert user(embedded, uid).sns == {"weibo": "5501234567", "qq": "QQ1"}
    assert holder(embedded, "QQ1", "qq") == user_id(uid)


def test_log_answers_202001_for_no_such_account_and_202103_for_a_wrong_password(client, embedded):
    register(client, "alice")

    refused(log(client, ticket(embedded), "nobody"), 404, 202001)
    refused(log(client, ticket(embedded), "alice", "wrong password"), 401, 202103)
    assert holder(embedded) is None


def test_log_locks_out_an_account_after_five_failures_whatever_the_password(client, embedded):
    register(client, "alice")
    for n in range(5):  # from five addresses: the account's own counter locks it
        refused(
            log(client, ticket(embedded), password="wrong", remote_addr=f"10.0.0.{n}"), 401, 202103
        )

    locked = log(client, ticket(embedded), remote_addr="10.0.1.1")

    refused(locked, 429, 201204)
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    assert holder(embedded) is None


def test_log_locks_out_an_address_after_five_failures_on_any_accounts(client, embedded):
    register(client, "alice")
    for n in range(5):
        refused(log(client, ticket(embedded), f"nobody{n}", remote_addr="10.9.9.9"), 404, 202001)

    refused(log(client, ticket(embedded), remote_addr="10.9.9.9"), 429, 201204)
    assert log(client, ticket(embedded), remote_addr="10.9.9.10").status_code == 200


def test_a_proven_account_starts_counting_its_failures_afresh(client, embedded):
    register(client, "alice")

    def fail(n: int) -> None:
        wrong = log(client, ticket(embedded), password="wrong", remote_addr=f"10.1.{n}.1")
        refused(wrong, 401, 202103)

    for n in range(4):
        fail(n)
    assert log(client, ticket(embedded), remote_addr="10.1.9.9").status_code == 200
    for n in range(4):
        fail(n + 10)
    again = log(client, ticket(embedded, channel="qq"), remote_addr="10.1.9.9")
    assert again.status_code == 200


def test_an_identity_bound_to_one_account_cannot_bind_another(client, embedded):
    first = reg(client, ticket(embedded)).json["uid"]
    register(client, "bob")

    for answer in (reg(client, ticket(embedded), "carol"), log(client, ticket(embedded), "bob")):
        body = refused(answer, 400, 100004)
        assert body["errors"]["sns_ticket"] == "names an SNS account bound to another account"
    assert holder(embedded) == user_id(first)
    assert not claimed(embedded.app, "username", "carol")  # nothing of the refused reg stays


def test_an_account_binds_one_identity_per_channel(client, embedded):
    reg(client, ticket(embedded))

    body = refused(log(client, ticket(embedded, openid="second")), 400, 100004)
    assert body["errors"]["sns_ticket"] == "the account is bound to weibo already"
    body = refused(log(client, ticket(embedded)), 400, 100004)  # the same one again
    assert body["errors"]["sns_ticket"] == "the account is bound to weibo already"


def session(embedded, uid: int) -> dict[str, str]:
    sid = uuid.uuid4().hex
    open_session(embedded.cache, sid, uid)
    return {"sid": sid}


def unbind(client, cookies: dict[str, str] | None, **params):
    return client.simulate_post("/api/User/unbind", params=params, cookies=cookies)


def test_unbind_needs_a_logged_in_user(client):
    refused(unbind(client, None), 401, 202101)


def test_unbind_with_nothing_bound_answers_202302(client, embedded):
    uid = register(client, "alice")

    body = refused(unbind(client, session(embedded, uid)), 400, 202302)
    assert body["message"] == "Fail to unbind SNS account"


def test_unbind_of_a_channel_not_bound_answers_202302(client, embedded):
    uid = reg(client, ticket(embedded)).json["uid"]

    refused(unbind(client, session(embedded, uid), channel="qq"), 400, 202302)
    assert user(embedded, uid).sns == {"weibo": "5501234567"}


def test_unbind_without_a_channel_unbinds_the_only_one_and_frees_the_identity(client, embedded):
    uid = reg(client, ticket(embedded)).json["uid"]
    other = register(client, "bob")

    answer = unbind(client, session(embedded, uid))

    assert answer.status_code == 200 and answer.json["position"] >= 1
    assert user(embedded, uid).sns == {}
    assert holder(embedded) is None
    assert log(client, ticket(embedded), "bob").json["uid"] == other  # now it binds elsewhere
    assert holder(embedded) == user_id(other)


def test_unbind_without_a_channel_when_several_are_bound_names_the_parameter(client, embedded):
    uid = reg(client, ticket(embedded)).json["uid"]
    log(client, ticket(embedded, channel="qq", openid="QQ1"))
    cookies = session(embedded, uid)

    body = refused(unbind(client, cookies), 400, 100004)
    assert body["errors"] == {"channel": "is required: qq, weibo are bound"}
    assert unbind(client, cookies, channel="qq").status_code == 200
    assert user(embedded, uid).sns == {"weibo": "5501234567"}


@pytest.mark.parametrize(("scopes", "status"), [(("calendar",), 403), (("user_info",), 200)])
def test_unbind_by_token_needs_the_user_info_scope(client, embedded, scopes, status):
    uid = reg(client, ticket(embedded)).json["uid"]
    issue_token(embedded.cache, "tok", uid, scopes)

    answer = client.simulate_post("/api/User/unbind", headers={"Authorization": "Bearer tok"})
    assert answer.status_code == status
