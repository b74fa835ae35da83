"""OAuth 2.0 authorization server metadata (RFC 8414), so that a client library can be pointed
at the issuer alone.

It answers plain JSON, not the envelope (RFC 8414 clients parse the document as it is), and
is documented apart from the API proper (`OPENAPI`, as api/health.py's probes).
"""

from __future__ import annotations

from typing import Any

import falcon

from domain.oauth import SCOPES
from upare.bootstrap import Container

PATH = "/.well-known/oauth-authorization-server"
ENDPOINTS = {
    "authorization_endpoint": "/api/oauth/authorize",
    "token_endpoint": "/api/oauth/accesstoken",
}  # no `revocation_endpoint`: /api/oauth/revoke takes `access_token`, not RFC 7009's `token`
FIXED: dict[str, list[str]] = {
    "response_types_supported": ["code"],
    "grant_types_supported": ["authorization_code", "refresh_token", "password"],
    "code_challenge_methods_supported": ["S256"],
    "scopes_supported": list(SCOPES),
    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
}
URL = {"type": "string", "format": "uri"}
WORDS = {"type": "array", "items": {"type": "string"}}
OPENAPI = {
    PATH: {
        "get": {
            "summary": "Describe the OAuth 2.0 authorization server (RFC 8414 metadata)",
            "tags": ["oauth"],
            "responses": {
                "200": {
                    "description": "the metadata, plain JSON (no envelope)",
                    "content": {
                        falcon.MEDIA_JSON: {
                            "schema": {
                                "type": "object",
                                "required": ["issuer", *ENDPOINTS, *FIXED],
                                "properties": {
                                    "issuer": URL,
                                    **{name: URL for name in ENDPOINTS},
                                    **{name: WORDS for name in FIXED},
                                },
                            }
                        }
                    },
                }
            },
        }
    }
}


def metadata(issuer: str) -> dict[str, Any]:
    """Return the metadata of the server at this issuer (`scheme://host[:port]`)."""
    return {
        "issuer": issuer,
        **{name: issuer + path for name, path in ENDPOINTS.items()},
        **FIXED,
    }


class Metadata:
    """Answer the metadata; the issuer is UPARE_ISSUER, else the request's scheme and host."""

    def __init__(self, container: Container) -> None:
        self.issuer = container.settings.issuer

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = metadata(self.issuer or f"{req.scheme}://{req.netloc}")
