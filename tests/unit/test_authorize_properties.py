"""Properties of /api/oauth/authorize (hypothesis, on the embedded default): only the exact
registered redirect URI is ever accepted, nothing is ever redirected anywhere else, and any
`state` comes back byte for byte."""

from __future__ import annotations

import string
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands.clients import RESPONSE_PARAMETERS, CreateClient
from upare import sessions

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PROPERTIES = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

words = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8)
hosts = st.lists(words, min_size=1, max_size=3).map(".".join)
paths = st.lists(st.text(string.ascii_letters + string.digits + "-._~", max_size=6), max_size=3)
# a registered query never carries what the response adds (commands.clients.check_redirect_uri)
names = words.filter(lambda word: word not in RESPONSE_PARAMETERS)
queries = st.lists(st.tuples(names, words), max_size=2).map(
    lambda pairs: "?" + "&".join(f"{k}={v}" for k, v in pairs) if pairs else ""
)


@st.composite
def registered_uris(draw) -> str:
    scheme = draw(st.sampled_from(["https", "http"]))
    port = draw(st.sampled_from(["", ":8080", ":1234"]))
    path = "/" + "/".join(draw(paths))
    return f"{scheme}://{draw(hosts)}{port}{path}{draw(queries)}"


def percent_encode_one(uri: str, at: int) -> str:
    split = uri.index("//") + 2
    index = split + at % max(len(uri) - split, 1)
    return uri[:index] + "".join(f"%{byte:02X}" for byte in uri[index].encode()) + uri[index + 1 :]


def upper_one(uri: str, at: int) -> str:
    letters = [i for i, c in enumerate(uri) if c.islower()]
    i = letters[at % len(letters)]
    return uri[:i] + uri[i].upper() + uri[i + 1 :]


def with_port(uri: str, at: int) -> str:
    scheme, rest = uri.split("://", 1)
    authority, slash, tail = rest.partition("/")
    return f"{scheme}://{authority.split(':')[0]}:{443 + at % 2 * 7637}{slash}{tail}"


MUTATIONS = {
    "case": upper_one,
    "trailing slash": lambda uri, at: uri[:-1] if uri.endswith("/") else uri + "/",
    "extra query": lambda uri, at: uri + ("&" if "?" in uri else "?") + "x=1",
    "empty query": lambda uri, at: uri + "?",
    "fragment": lambda uri, at: uri + "#top",
    "userinfo": lambda uri, at: uri.replace("://", "://user@", 1),
    "port": with_port,
    "percent-encoding": percent_encode_one,
    "unicode": lambda uri, at: uri[: at % len(uri)] + "\u00e9" + uri[at % len(uri) :],
    "dropped character": lambda uri, at: uri[: at % len(uri)] + uri[at % len(uri) + 1 :],
    "whitespace": lambda uri, at: uri + " ",
    "scheme": lambda uri, at: ("http" + uri[5:]) if uri.startswith("https") else "https" + uri[4:],
}


@pytest.fixture
def logged_in(client, embedded) -> str:
    form = {"username": "alice", "password": "correct horse", "email": "alice@example.com"}
    uid = client.simulate_post("/api/User/register", params=form).json["uid"]
    return sessions.open_session(embedded.cache, uid)


def register(embedded, uri: str) -> str:
    command = CreateClient(name="Demo", redirect_uris=(uri,), trusted=True)
    return embedded.bus.execute(command).fields["client_id"]


def authorize(client, sid: str, **fields: str):
    body = urlencode({"response_type": "code", **fields})
    return client.simulate_post(
        "/api/oauth/authorize", body=body, headers=FORM, cookies={"sid": sid}
    )


@PROPERTIES
@given(registered_uris(), st.sampled_from(sorted(MUTATIONS)), st.integers(0, 1000), st.data())
def test_only_the_exact_registered_uri_is_accepted(
    client, embedded, logged_in, uri, mutation, at, data
):
    client_id = register(embedded, uri)
    sent = MUTATIONS[mutation](uri, at)
    extra = data.draw(st.fixed_dictionaries({}, optional={"scope": st.sampled_from(["wat", ""])}))

    answer = authorize(client, logged_in, client_id=client_id, redirect_uri=sent, **extra)

    if sent == uri:
        assert answer.status_code == 302
    else:
        assert (answer.status_code, answer.json["error_code"]) == (400, 201104), sent
        assert "Location" not in answer.headers


@PROPERTIES
@given(
    registered_uris(),
    st.text(),
    st.sampled_from(["", "user_info", "calendar", "nonsense"]),
    st.sampled_from([{}, {"code_challenge": "x"}, {"code_challenge_method": "plain"}]),
)
def test_every_redirect_goes_to_the_registered_uri_with_the_state_as_sent(
    client, embedded, logged_in, uri, state, scope, pkce
):
    client_id = register(embedded, uri)

    answer = authorize(
        client, logged_in, client_id=client_id, redirect_uri=uri, state=state, scope=scope, **pkce
    )

    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(uri) and location[len(uri)] in "?&"
    query = parse_qs(urlsplit(location).query, keep_blank_values=True)
    assert query["state"] == [state]
    assert ("code" in query) != ("error" in query)
