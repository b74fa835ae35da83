"""OAuth 2.0 authorization server metadata (RFC 8414) at /.well-known/oauth-authorization-server."""

from __future__ import annotations

from dataclasses import replace

import falcon.testing
import pytest

from api.app import create_app
from upare.settings import Settings

PATH = "/.well-known/oauth-authorization-server"


def test_the_metadata_names_the_endpoints_under_the_requests_own_origin(client):
    answer = client.simulate_get(PATH, headers={"Host": "api.example:8443"}, protocol="https")
    assert answer.status_code == 200
    document = answer.json
    assert "error_code" not in document  # plain JSON, as RFC 8414 clients parse it
    assert document["issuer"] == "https://api.example:8443"
    assert document["authorization_endpoint"] == "https://api.example:8443/api/oauth/authorize"
    assert document["token_endpoint"] == "https://api.example:8443/api/oauth/accesstoken"
    assert "revocation_endpoint" not in document  # revoke is the document's, not RFC 7009's
    assert document["response_types_supported"] == ["code"]
    assert document["grant_types_supported"] == ["authorization_code", "refresh_token", "password"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["scopes_supported"] == ["user_info", "friends", "calendar", "messages", "all"]
    assert document["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        "none",
    ]


def test_the_issuer_setting_wins_over_the_requests_origin(embedded):
    embedded.settings = replace(embedded.settings, issuer="https://id.upare.example")
    client = falcon.testing.TestClient(create_app(embedded))
    document = client.simulate_get(PATH, headers={"Host": "internal:8000"}).json
    assert document["issuer"] == "https://id.upare.example"
    assert document["token_endpoint"] == "https://id.upare.example/api/oauth/accesstoken"


def test_the_openapi_document_lists_the_metadata_apart_from_the_envelope(client):
    paths = client.simulate_get("/openapi.json").json["paths"]
    assert PATH in paths
    schema = paths[PATH]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert "issuer" in schema["required"] and "$ref" not in str(schema)


def test_the_issuer_and_the_token_rates_are_read_from_the_environment():
    settings = Settings.from_env(
        {
            "UPARE_ISSUER": "https://id.upare.example/",
            "UPARE_OAUTH_CLIENT_RATE": "100/second",
            "UPARE_OAUTH_TOKEN_RATE": "10 per minute",
        }
    )
    assert settings.issuer == "https://id.upare.example"
    assert (settings.oauth_client_rate, settings.oauth_token_rate) == (
        "100/second",
        "10 per minute",
    )
    assert Settings.from_env({}).oauth_token_rate == "120/minute"


@pytest.mark.parametrize("name", ["UPARE_OAUTH_CLIENT_RATE", "UPARE_OAUTH_TOKEN_RATE"])
def test_a_rate_that_is_no_rate_is_refused_at_start(name):
    with pytest.raises(SystemExit, match=name):
        Settings.from_env({name: "lots"})
