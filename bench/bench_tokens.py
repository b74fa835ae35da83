"""Benchmark token validation: an API request with a Bearer token against the same request
with no credentials, over HTTP, in the same run.

Run `python bench/bench_tokens.py [--runs 7] [--seconds 2] [--workers 2] [--clients 4]
[--backend auto|postgres|sqlite]`.

Both send `POST /api/User/info` with `uid` (a public profile from the users read model) to a
real `upare serve`, on PostgreSQL with Redis when they answer (as in production), else on the
embedded default. The token request adds `Authorization: Bearer`: the server then resolves the
token in the cache, checks its scope, counts it against its client's and its own rate (set
high enough here never to refuse) and looks up the caller's last write (read-your-writes).
Each run measures both, one right after the other, in alternating order. Target ratio 0.8.
Prints `BENCH token_http: <v> requests/s with a token; <b> without; ratio <median> (<min>-<max>
over <n> runs) (target 0.8)`.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid

import requests
from fresh import fresh_container, pick_backend
from serving import arguments, calls_in_threads, redis_env, running_server

from domain.keys import digest
from upare import sessions
from upare.bootstrap import build_cache
from upare.settings import Settings

FORM = {"username": "bench", "password": "correct horse", "email": "bench@example.com"}
NEVER = "100000000/minute"  # rates that a benchmark never reaches


def main() -> None:
    args = arguments(__doc__.splitlines()[0], runs=7)
    backend = pick_backend(args.backend)
    with fresh_container(backend) as container:
        env = {
            "UPARE_DATABASE_URL": container.settings.database_url,
            "UPARE_OAUTH_CLIENT_RATE": NEVER,
            "UPARE_OAUTH_TOKEN_RATE": NEVER,
        }
        if backend == "postgres":
            env.update(redis_env())
        cache_name = "Redis" if "UPARE_REDIS_URL" in env else "SQLite"
        print(
            f"# {backend}, cache on {cache_name}; {os.cpu_count()} cores; {args.workers}"
            f" workers; {args.clients} clients"
        )
        with running_server(args.workers, env, with_worker=True) as server:
            answer = requests.post(f"{server.url}/api/User/register", data=FORM, timeout=30)
            uid, position = answer.json()["uid"], answer.json()["position"]
            wait = {"uid": uid, "min_position": position}  # until the worker projected it
            requests.post(f"{server.url}/api/User/info", data=wait, timeout=30)
            cache = build_cache(
                Settings(
                    data_dir=server.folder,
                    redis_url=env.get("UPARE_REDIS_URL", ""),
                    redis_prefix=env.get("UPARE_REDIS_PREFIX", ""),
                )
            )
            token = uuid.uuid4().hex + uuid.uuid4().hex
            sessions.cache_token(
                cache,
                digest(token),
                uid=uid,
                client_id="100000000000001",
                scopes=["user_info"],
                expires_at=time.time() + 3600,
                authorization=uuid.uuid4().hex,
            )
            bearer = {"Authorization": f"Bearer {token}"}

            def ask(headers: dict[str, str]) -> None:
                answer = requests.post(
                    f"{server.url}/api/User/info", data={"uid": uid}, headers=headers, timeout=30
                )
                assert answer.status_code == 200, answer.text

            ask(bearer)  # the token passes
            calls_in_threads(lambda _: ask(bearer), args.clients, 1)  # warm-up
            with_token, without = [], []
            for run in range(args.runs):
                order = [(with_token, bearer), (without, {})]
                for rates, headers in order if run % 2 else reversed(order):
                    calls, seconds = calls_in_threads(
                        lambda _, h=headers: ask(h), args.clients, args.seconds
                    )
                    rates.append(calls / seconds)
    ratios = [token / plain for token, plain in zip(with_token, without, strict=True)]
    print(
        f"BENCH token_http: {statistics.median(with_token):.0f} requests/s with a token;"
        f" {statistics.median(without):.0f} without; ratio {statistics.median(ratios):.2f}"
        f" ({min(ratios):.2f}-{max(ratios):.2f} over {args.runs} runs) (target 0.8)"
    )


if __name__ == "__main__":
    main()
