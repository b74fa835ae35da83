"""What the social end-to-end tests share: a POST to a `/api/User/...` endpoint with a session
(the `users` fixture of tests/e2e/conftest.py registers and logs in its users)."""

from __future__ import annotations

import requests


def post(server: str, endpoint: str, sid: str, **data) -> requests.Response:
    return requests.post(
        f"{server}/api/User/{endpoint}", data=data, cookies={"sid": sid}, timeout=20
    )
