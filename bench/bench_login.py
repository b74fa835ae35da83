"""Benchmark login: requests per second over HTTP against the Argon2id verify it must do.

Run `python bench/bench_login.py [--runs 9] [--seconds 2] [--workers 2] [--clients 4]
[--backend auto|postgres|sqlite]`.

- login_http: `POST /api/User/login` (the right password, the test mode's captcha) to a real
  `upare serve` with its worker, from `--clients` threads for `--seconds`: on PostgreSQL (a
  fresh database) with Redis (under a prefix of its own) when they answer, as in production;
  else on the embedded default (SQLite store and cache). Baseline:
  `domain.passwords.verify_password` of the very hash the server stores (read back from its
  event store), in as many processes as gunicorn has workers: the work a login cannot avoid,
  with the same parallelism. Each run measures both, one after the other.
- login_cpu: the CPU time all the server's processes spent per login during those runs,
  against the CPU time per verify of the baseline's processes. Unlike the rates it hardly
  moves with other work on the machine, so it tells the framework's share even on a busy one.

The target of both ratios is 0.7 (the hash dominates, not the framework). Prints
`BENCH login_http: <v> logins/s; baseline <b> verifies/s; ratio <median> (<min>-<max> over <n>
runs) (target 0.7)` and `BENCH login_cpu: <x> ms a login; baseline <y> ms a verify; ratio
<y/x> (target 0.7)`, medians throughout.
"""

from __future__ import annotations

import argparse
import os
import statistics
from functools import partial

import requests
from fresh import fresh_container, pick_backend
from serving import Server, arguments, paired_runs, redis_env, running_server

from commands.users import find_account
from domain.passwords import verify_password

FORM = {"username": "bench", "password": "correct horse", "email": "bench@example.com"}


def measure(server: Server, password_hash: str, args: argparse.Namespace) -> dict[str, list]:
    """Return, run by run: logins/s over HTTP and verifies/s in process, and the CPU ms of
    each (all the server's processes a login; the baseline's a verify)."""
    login = {"username": FORM["username"], "password": FORM["password"], "captcha": "PASSED"}

    def log_in(_: int) -> None:
        answer = requests.post(f"{server.url}/api/User/login", data=login, timeout=30)
        answer.raise_for_status()

    return paired_runs(
        server, partial(verify_password, password_hash, FORM["password"]), log_in, args
    )


def main() -> None:
    args = arguments(__doc__.splitlines()[0], runs=9)
    backend = pick_backend(args.backend)
    with fresh_container(backend) as container:
        env = {
            "UPARE_CAPTCHA_TEST_MODE": "1",
            "UPARE_DATABASE_URL": container.settings.database_url,
        }
        if backend == "postgres":
            env.update(redis_env())
        cache = "Redis" if "UPARE_REDIS_URL" in env else "SQLite"
        print(
            f"# {backend}, cache on {cache}; {os.cpu_count()} cores; {args.workers} workers;"
            f" {args.clients} clients"
        )
        with running_server(args.workers, env, with_worker=True) as server:
            answer = requests.post(f"{server.url}/api/User/register", data=FORM, timeout=30)
            answer.raise_for_status()
            user = find_account(container.app, FORM["username"])
            assert user is not None
            found = measure(server, user.password_hash, args)
    rates, baselines = found["rates"], found["baselines"]
    ratios = [rate / baseline for rate, baseline in zip(rates, baselines, strict=True)]
    print(
        f"BENCH login_http: {statistics.median(rates):.1f} logins/s; baseline"
        f" {statistics.median(baselines):.1f} verifies/s (Argon2id, {args.workers} processes);"
        f" ratio {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f} over"
        f" {args.runs} runs) (target 0.7)"
    )
    login_cpu, verify_cpu = (
        statistics.median(found["cpu"]),
        statistics.median(found["baseline_cpu"]),
    )
    print(
        f"BENCH login_cpu: {login_cpu:.1f} ms of server CPU a login; baseline {verify_cpu:.1f}"
        f" ms a verify; ratio {verify_cpu / login_cpu:.2f} (target 0.7)"
    )


if __name__ == "__main__":
    main()
