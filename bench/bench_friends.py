"""Benchmark friends: seeding through the commands, the read models catching up, and serving
`friends` and `friendsrecommend` against a no-op endpoint over HTTP, in the same run.

Run `python bench/bench_friends.py [--users 20000] [--friendships 200000] [--threads 4]
[--runs 5] [--seconds 2] [--workers 2] [--clients 4] [--backend auto|postgres|sqlite]`.

- Seeding, on a fresh store (PostgreSQL when it answers, else SQLite): `--users` users
  registered with `RegisterUser` and `--friendships` random pairs made with `MakeFriend`,
  through the bus, in process, from `--threads` threads. The pairs are skewed: a user's
  chance to be picked falls with its rank (a few have hundreds of friends, most a few).
  Argon2 would take most of an hour over 20,000 passwords on 2 cores, so the benchmark (and
  only it) patches the hash the register command calls to return one precomputed hash.
- Projection: the friends and recommendations read models then catch up from position 0
  through the embedded store feed, each timed alone; the feed prints its progress, and the
  BENCH line gives the friendship events applied per second.
- Serving: a real `upare serve` over the seeded databases (no worker: nothing is written);
  sampled users with friends and recommendations, logged in through the cache. Each run
  measures the no-op endpoint (`GET /healthz`, with the same session cookie), `friends` and
  `friendsrecommend` (limit 10) one right after the other, in rotating order. Target ratio 0.5.

Prints `BENCH friends_seed`, `BENCH friends_projection`, `BENCH recommendations_projection`,
`BENCH friends_http` and `BENCH friendsrecommend_http` (`<v> requests/s; no-op <b>; ratio
<median> (<min>-<max> over <n> runs) (target 0.5)`).
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import requests
from fresh import fresh_container, pick_backend
from serving import calls_in_threads, redis_env, running_server

from commands.friends import MakeFriend
from commands.users import RegisterUser
from domain.passwords import hash_password
from domain.users import FIRST_UID
from projections.base import Projection
from projections.friends import FriendsProjection
from projections.recommendations import RecommendationsProjection
from queries.friends import friends, recommendations
from upare import sessions
from upare.bootstrap import Container, build_cache
from upare.settings import Settings
from workers.store_feed import StoreFeed

PASSWORD = "correct horse battery"  # noqa: S105 (every seeded user's)
SAMPLE = 200  # users the HTTP clients take turns as
SKEW = 1.5  # a user of rank r (from 0) is picked with a density falling as r ** (1/SKEW - 1)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--friendships", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=4, help="seeding threads")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--clients", type=int, default=4, help="client threads")
    parser.add_argument("--backend", choices=["auto", "postgres", "sqlite"], default="auto")
    return parser.parse_args()


def random_pairs(users: int, count: int, seed: int = 10) -> list[tuple[int, int]]:
    """Return `count` distinct pairs of distinct uids, skewed towards the first uids."""
    rng = random.Random(seed)
    pick = lambda: FIRST_UID + int(users * rng.random() ** SKEW)  # noqa: E731
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < count:
        uid, fid = pick(), pick()
        if uid != fid and (fid, uid) not in pairs:
            pairs.add((uid, fid))
    return sorted(pairs, key=lambda _: rng.random())


def in_threads(container: Container, commands: list[object], threads: int) -> float:
    """Run the commands through the bus from `threads` threads; return the seconds taken."""
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(container.bus.execute, commands, chunksize=64):
            pass
    return time.perf_counter() - started


def seed(container: Container, args: argparse.Namespace) -> None:
    """Register the users (one precomputed hash) and make the friendships, through the bus."""
    one_hash = hash_password(PASSWORD)
    registers = [
        RegisterUser(username=f"user{n}", password=PASSWORD, email=f"user{n}@example.com")
        for n in range(args.users)
    ]
    with mock.patch("commands.users.hash_password", lambda password: one_hash):
        register_seconds = in_threads(container, registers, args.threads)
    pairs = random_pairs(args.users, args.friendships)
    makes = [MakeFriend(uid=uid, fid=fid) for uid, fid in pairs]
    make_seconds = in_threads(container, makes, args.threads)
    print(
        f"BENCH friends_seed: {args.users / register_seconds:.0f} registrations/s;"
        f" {args.friendships / make_seconds:.0f} friendmakes/s ({args.threads} threads)"
    )


def catch_up(container: Container, classes: list[type[Projection]]) -> float:
    """Feed these projections from where they are to the store's head; return the seconds."""
    feed, head = StoreFeed(container.log, container.db, classes), container.log.head()
    started = last_print = time.perf_counter()
    read = 0
    while batch := feed.run_once():
        read += batch // len(classes)
        if time.perf_counter() - last_print > 5:
            last_print = time.perf_counter()
            rate = read / (last_print - started)
            print(f"#   {classes[0].name}: {read}/{head} events read, {rate:.0f} events/s")
    return time.perf_counter() - started


def sample_users(container: Container, users: int) -> list[int]:
    """Return up to SAMPLE random users who have friends and someone to be recommended."""
    candidates = random.Random(3).sample(range(FIRST_UID, FIRST_UID + users), users)
    db = container.db
    found = (uid for uid in candidates if friends(db, uid) and recommendations(db, uid, 1))
    return list(itertools.islice(found, SAMPLE))


def measure(
    calls: dict[str, Callable[[int], None]], args: argparse.Namespace
) -> dict[str, list[float]]:
    """Return each call's requests/s, run after run, in rotating order."""
    for call in calls.values():
        calls_in_threads(call, args.clients, 1)  # warm-up
    rates: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for run in range(args.runs):
        for name in names[run % len(names) :] + names[: run % len(names)]:
            done, seconds = calls_in_threads(calls[name], args.clients, args.seconds)
            rates[name].append(done / seconds)
    return rates


def main() -> None:
    args = arguments()
    backend = pick_backend(args.backend)
    mail = tempfile.TemporaryDirectory(prefix="upare-bench-mail-")  # the codes' mails
    with mail, fresh_container(backend, mail_url=f"file://{mail.name}") as container:
        print(f"# {backend}; {os.cpu_count()} cores; {args.users} users; {args.friendships} pairs")
        seed(container, args)
        timed = [FriendsProjection, RecommendationsProjection]
        catch_up(container, [cls for cls in container.projections if cls not in timed])
        for cls in timed:
            seconds = catch_up(container, [cls])
            print(
                f"BENCH {cls.name}_projection: {args.friendships / seconds:.0f} friendship"
                f" events/s ({seconds:.1f} s for {args.friendships})"
            )
        uids = sample_users(container, args.users)
        env = {"UPARE_DATABASE_URL": container.settings.database_url}
        if backend == "postgres":
            env.update(redis_env())
        with running_server(args.workers, env) as server:
            cache = build_cache(
                Settings(
                    data_dir=server.folder,
                    redis_url=env.get("UPARE_REDIS_URL", ""),
                    redis_prefix=env.get("UPARE_REDIS_PREFIX", ""),
                )
            )
            sids = [sessions.open_session(cache, uid) for uid in uids]

            def ask(path: str, method: str = "post") -> Callable[[int], None]:
                turn = iter(range(10**12))

                def call(_: int) -> None:
                    sid = sids[next(turn) % len(sids)]
                    answer = requests.request(
                        method, f"{server.url}{path}", cookies={"sid": sid}, timeout=30
                    )
                    assert answer.status_code == 200, answer.text

                return call

            rates = measure(
                {
                    "noop": ask("/healthz", "get"),
                    "friends": ask("/api/User/friends"),
                    "friendsrecommend": ask("/api/User/friendsrecommend"),
                },
                args,
            )
    for name in ("friends", "friendsrecommend"):
        ratios = [rate / noop for rate, noop in zip(rates[name], rates["noop"], strict=True)]
        print(
            f"BENCH {name}_http: {statistics.median(rates[name]):.0f} requests/s;"
            f" no-op {statistics.median(rates['noop']):.0f}; ratio {statistics.median(ratios):.2f}"
            f" ({min(ratios):.2f}-{max(ratios):.2f} over {args.runs} runs) (target 0.5)"
        )


if __name__ == "__main__":
    main()
