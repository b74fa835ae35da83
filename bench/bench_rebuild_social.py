"""Benchmark `upare projections rebuild friends` and `... recommendations` against
eventsourcing's ProjectionRunner and a decode-only scan of the same events, in the same run.

Run `python bench/bench_rebuild_social.py [--users 5000] [--friendships 50000] [--backend
auto|postgres|sqlite]`; it prints, for friends and for recommendations, `BENCH rebuild <name>:
<v> events/s; ProjectionRunner <b> events/s; ratio <r> (target 25); decode-only scan <s>
events/s; ratio <q> (target 0.3); peak RSS <m> MB`, the rates over every event of the log,
then the same runs' rates over its friendship events alone.

- The log is what this service stores for such a social graph, so that a rebuild reads what a
  real one reads: first each user's account as `register` opens it (`User.Registered`, the
  three `Index` claims of its username, nickname and email, the welcome `Message`), 1,000
  accounts a transaction; then `--friendships` `Friendship.Made`, 1,000 a transaction, each
  batch followed by its notification outcomes as the notifier records them
  (`FriendNotified`, or for one in a hundred `FriendNotificationFailed` with its message to
  the maker: friends applies both as updates); then an `Ended` for every tenth friendship.
  5,000 users and 50,000 friendships make about 131,000 events, 105,000 of friendships.
  Then the store is VACUUM ANALYZEd and CHECKPOINTed (`fresh.settle`), as autovacuum and the
  server would soon after.
- The graph is `bench_friends`'s (the same as the friends and recommend benches'): mean
  degree 20, skewed (a user of rank r is picked with a density falling as r ** -1/3; the
  busiest has about 340 friends, most a few). Kept as it is: a heavy tail is what social
  graphs have, and it is what makes recommendations' counts (the sum of the squared degrees,
  ~2M rows) the expensive part; a flatter graph would only make that part look cheaper.
- rebuild and decode-only scan: as in `bench_rebuild` (`upare projections rebuild NAME` in its
  own process, the median of `--repeat`; the whole log read and decoded by `EventLog.read`).
- baseline: each projection's own tables and handlers under eventsourcing's
  `ProjectionRunner` (`runner_baseline`): for recommendations the count upserts per
  friendship made or ended, for friends the list rows and the outcome updates; each for at
  most `--baseline-seconds`.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench_friends import random_pairs
from bench_rebuild import decode_scan, rebuilds
from fresh import fresh_container, pick_backend, settle
from runner_baseline import baseline

from commands.inbox import message
from domain.friends import NOTIFY_FAILED, Friendship
from domain.inbox import WELCOME
from domain.passwords import hash_password
from domain.users import FIRST_UID, Index, User
from projections.friends import FriendsProjection
from projections.recommendations import RecommendationsProjection
from upare.bootstrap import Container

FAILED_EVERY = 100  # one friend notification in a hundred fails


def store_accounts(container: Container, users: int) -> int:
    """Store `users` accounts as `register` opens them, 1,000 a transaction; return the
    number of events stored."""
    app, password_hash, stored = container.app, hash_password("correct horse battery"), 0
    for start in range(FIRST_UID, FIRST_UID + users, 1000):
        batch = []
        for uid in range(start, min(start + 1000, FIRST_UID + users)):
            name = f"user{uid}"
            user = User.register(
                uid=uid, username=name, email=f"{name}@example.com", password_hash=password_hash
            )
            batch += [
                user,
                *(
                    Index(id=app.claim_id(kind, value), kind=kind, owner=user.id)
                    for kind, value in (("username", name), ("nickname", name))
                ),
                Index(id=app.claim_id("email", f"{name}@example.com"), kind="email", owner=user.id),
                message(uid, WELCOME.format(username=name)),
            ]
        app.vault.provide([str(aggregate.id) for aggregate in batch if isinstance(aggregate, User)])
        app.save(*batch)
        stored += len(batch)
    return stored


def store_friendships(container: Container, users: int, count: int) -> int:
    """Store `count` skewed friendships 1,000 a transaction, each batch followed by its
    notification outcomes, then end every tenth; return the number of events stored."""
    pairs, made, stored = random_pairs(users, count), [], 0
    for start in range(0, count, 1000):
        batch = [Friendship.make(low, high) for low, high in pairs[start : start + 1000]]
        container.app.save(*batch)
        failures = []
        for n, friendship in enumerate(batch):
            if n % FAILED_EVERY:
                friendship.notified(1)
            else:
                friendship.notification_failed(1, "no inbox")
                failures.append(message(friendship.maker, NOTIFY_FAILED, 204104))
        container.app.save(*batch, *failures)
        stored += 2 * len(batch)
        made += batch[::10]
    for start in range(0, len(made), 1000):
        ended = made[start : start + 1000]
        for friendship in ended:
            friendship.end(friendship.low)
        container.app.save(*ended)
    return stored + len(made)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--friendships", type=int, default=50_000)
    parser.add_argument("--backend", choices=["auto", "postgres", "sqlite"], default="auto")
    parser.add_argument("--baseline-seconds", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=3, help="runs; the median counts")
    args = parser.parse_args()
    backend = pick_backend(args.backend)
    with fresh_container(backend) as container:
        began = time.perf_counter()
        store_accounts(container, args.users)
        friendship_events = store_friendships(container, args.users, args.friendships)
        settle(container)
        last = container.log.head()
        print(
            f"# {backend}: {last} events stored ({friendship_events} of friendships) in"
            f" {time.perf_counter() - began:.1f} s"
        )
        results = {
            name: rebuilds(container, name, args.repeat) for name in ("friends", "recommendations")
        }
        scan = statistics.median(decode_scan(container) for _ in range(args.repeat))
        runner = {
            cls.name: baseline(container, cls, args.baseline_seconds)
            for cls in (FriendsProjection, RecommendationsProjection)
        }
    for name, (rate, _, rss) in results.items():
        base = last / runner[name]
        print(
            f"BENCH rebuild {name}: {rate:,.0f} events/s; ProjectionRunner {base:,.0f}"
            f" events/s; ratio {rate / base:.1f} (target 25); decode-only scan {scan:,.0f}"
            f" events/s; ratio {rate / scan:.2f} (target 0.3); peak RSS {rss:.0f} MB"
        )
    for name, (_, seconds, _) in results.items():
        print(
            f"# {name}, friendship events alone ({friendship_events} of {last}): rebuild"
            f" {friendship_events / seconds:,.0f} events/s, ProjectionRunner"
            f" {friendship_events / runner[name]:,.0f} events/s"
        )


if __name__ == "__main__":
    main()
