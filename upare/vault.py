"""Personal data's keys: one AES-GCM key per person, kept beside the event store, never in events.

A person's key is made the first time data of theirs is sealed, and stored wrapped (encrypted)
by a key derived from `UPARE_SECRET_KEY`, in `personal_keys`: a table of the event store's own
database (the SQLite file or PostgreSQL). Erasing a person deletes their key (crypto-shredding):
every copy of their sealed data, in the store, on Kafka and in exports, is unreadable at once.
Their row stays, with an empty wrapped key (`ERASED`): a tombstone, so that data sealed for them
later (a friend's message naming them, delivered after the erasure) is stored unreadable rather
than under a new key.

Unwrapped keys are kept in memory for `CACHE_SECONDS`, so another process that read a key just
before an erasure may read that person's data for that long (their `User.Erased` event is what
blanks them in the read models, so nothing shown depends on it). At most `CACHE_KEYS` are kept:
a reader of a million people's events (an export, a rebuild) stays flat (a million keys would
hold about 300 MB).

Owners are aggregate ids as text, as the key table and the event log's readers hold them: a
reader of many events converts nothing back and forth. A held key is kept as its cipher, with
the owner's id as bytes (the data it seals is bound to), made once a person, not once an event.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from upare.transcoder import loads

if TYPE_CHECKING:
    from projections.database import ReadDB

KEY_TABLE = "personal_keys"
INSTALL_LOCK = 7261011  # the advisory lock that serialises creating the table
CACHE_SECONDS = 60.0
CACHE_KEYS = 10_000
NONCE = 12
ERASED = ""  # the wrapped key of an erased person


def derive(secret_key: str, purpose: str) -> bytes:
    """Return a 256-bit key for one purpose, derived from the settings' secret key (HKDF)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode())
    return hkdf.derive(secret_key.encode())


class Keys(Protocol):
    """Where the wrapped keys are kept, by owner (an aggregate id as text)."""

    def get(self, owner: str) -> str | None: ...
    def get_many(self, owners: list[str]) -> dict[str, str]: ...
    def add(self, owner: str, wrapped: str) -> None: ...
    def add_many(self, wrapped: dict[str, str]) -> None: ...
    def erase(self, owner: str) -> None: ...
    def close(self) -> None: ...


class TableKeys:
    """The wrapped keys in `personal_keys` of the event store's database."""

    def __init__(self, db: ReadDB) -> None:
        self.db = db

    def install(self) -> None:
        """Create the key table if it is missing."""
        with self.db.transaction() as tx:
            tx.lock_exclusive(INSTALL_LOCK)
            tx.execute(
                f"CREATE TABLE IF NOT EXISTS {KEY_TABLE}"
                " (owner TEXT PRIMARY KEY, wrapped TEXT NOT NULL)"
            )

    def get(self, owner: str) -> str | None:
        row = self.db.fetchone(f"SELECT wrapped FROM {KEY_TABLE} WHERE owner = ?", (owner,))
        return None if row is None else str(row[0])

    def get_many(self, owners: list[str]) -> dict[str, str]:
        """Return the wrapped keys these owners have, in one query."""
        with self.db.transaction(write=False) as tx:
            among, params = tx.among("owner", owners)
            rows = tx.fetchall(f"SELECT owner, wrapped FROM {KEY_TABLE} WHERE {among}", params)
        return {str(owner): str(wrapped) for owner, wrapped in rows}

    def add(self, owner: str, wrapped: str) -> None:
        with self.db.transaction() as tx:
            tx.execute(
                f"INSERT INTO {KEY_TABLE} (owner, wrapped) VALUES (?, ?)"
                " ON CONFLICT (owner) DO NOTHING",
                (owner, wrapped),
            )

    def add_many(self, wrapped: dict[str, str]) -> None:
        """Add these owners' keys in one transaction (an owner who has one keeps it)."""
        with self.db.transaction() as tx:
            tx.executemany(
                f"INSERT INTO {KEY_TABLE} (owner, wrapped) VALUES (?, ?)"
                " ON CONFLICT (owner) DO NOTHING",
                list(wrapped.items()),
            )

    def erase(self, owner: str) -> None:
        """Replace the owner's key with the tombstone `ERASED`."""
        with self.db.transaction() as tx:
            tx.execute(
                f"INSERT INTO {KEY_TABLE} (owner, wrapped) VALUES (?, ?)"
                " ON CONFLICT (owner) DO UPDATE SET wrapped = excluded.wrapped",
                (owner, ERASED),
            )

    def close(self) -> None:
        self.db.close()


class MemoryKeys(dict[str, str]):
    """The wrapped keys in memory, beside an in-memory event store (eventsourcing's popo)."""

    def get_many(self, owners: list[str]) -> dict[str, str]:
        return {owner: self[owner] for owner in owners if owner in self}

    def add(self, owner: str, wrapped: str) -> None:
        self.setdefault(owner, wrapped)

    def add_many(self, wrapped: dict[str, str]) -> None:
        for owner, key in wrapped.items():
            self.setdefault(owner, key)

    def erase(self, owner: str) -> None:
        self[owner] = ERASED

    def close(self) -> None:
        """Nothing to close: the keys go with the process."""


class Held(NamedTuple):
    """A person's unwrapped key as the vault keeps it: its cipher, the owner's id as bytes
    (bound to every ciphertext of theirs) and when it was unwrapped."""

    cipher: AESGCM
    owner: bytes
    since: float


class Vault:
    """Seal and open personal data with its person's key; erase a person by their key.

    `owner` is always an aggregate id as text (`str(UUID)`).
    """

    def __init__(self, keys: Keys, secret_key: str) -> None:
        self.keys = keys
        self._wrapper = AESGCM(derive(secret_key, "upare personal keys"))
        self._cache: OrderedDict[str, Held] = OrderedDict()  # popped from the front in O(1)

    def seal(self, owner: str, data: dict[str, Any]) -> str | None:
        """Return `data` encrypted with the owner's key (made now if they have none), or None
        when the owner was erased: nothing of theirs is stored readable again."""
        held = self._held(owner) or self._new_key(owner)
        if held is None:
            return None
        nonce = os.urandom(NONCE)
        plain = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        return _text(nonce + held.cipher.encrypt(nonce, plain, held.owner))

    def open(self, owner: str, sealed: str) -> dict[str, Any] | None:
        """Return the data sealed for `owner`, or None when their key is gone (erased)."""
        held = self._held(owner)
        if held is None:
            return None
        blob = binascii.a2b_base64(sealed)
        plain = held.cipher.decrypt(blob[:NONCE], blob[NONCE:], held.owner)
        data: dict[str, Any] = loads(plain)
        return data

    def holds(self, owner: str) -> bool:
        """Tell whether the owner's key is held (they have one and were not erased)."""
        return self._held(owner) is not None

    def preload(self, owners: set[str]) -> None:
        """Fetch the keys of these owners that are not cached, in one query: a reader of many
        events (a rebuild, an export) then asks the key table once a page, not once a person."""
        since = time.monotonic() - CACHE_SECONDS
        cache = self._cache
        missing = [owner for owner in owners if owner not in cache or cache[owner].since <= since]
        if missing:
            self.offer(self.keys.get_many(missing))

    def offer(self, wrapped: dict[str, str]) -> None:
        """Hold these owners' keys, as read from the key table (by `preload`, or beside their
        events: `EventLog.page`), unless a fresh one is held; a tombstone holds nothing."""
        since = time.monotonic() - CACHE_SECONDS
        cache = self._cache
        for owner, key in wrapped.items():
            if key and (owner not in cache or cache[owner].since <= since):
                self._unwrap(owner, key)

    def provide(self, owners: list[str]) -> None:
        """Make keys for many new people in one transaction and cache them, so that sealing
        their first events asks the key table nothing (a bulk import, the benches' seeding:
        one key a transaction costs a round trip or three a person). Owners who have a key
        keep it; an erased owner stays erased."""
        made = {owner: _text(self._wrap(owner, AESGCM.generate_key(256))) for owner in owners}
        self.keys.add_many(made)
        self.preload(set(made))

    def erase(self, owner: str) -> None:
        """Delete the owner's key: what was sealed with it can never be opened again."""
        self._cache.pop(owner, None)
        self.keys.erase(owner)

    def close(self) -> None:
        self.keys.close()

    def _held(self, owner: str) -> Held | None:
        """Return the owner's key, from the cache while it is fresh, else from the key table
        (None: they have none yet, or were erased)."""
        held = self._cache.get(owner)
        if held is not None and time.monotonic() - held.since < CACHE_SECONDS:
            return held
        wrapped = self.keys.get(owner)
        if not wrapped:  # none yet, or erased
            self._cache.pop(owner, None)
            return None
        return self._unwrap(owner, wrapped)

    def _unwrap(self, owner: str, wrapped: str) -> Held:
        """Unwrap a stored key and cache it (at most `CACHE_KEYS`, the first cached out first)."""
        blob = binascii.a2b_base64(wrapped)
        bound = UUID(owner).bytes
        try:
            key = self._wrapper.decrypt(blob[:NONCE], blob[NONCE:], bound)
        except InvalidTag:
            raise ValueError(f"the key of {owner} does not open with UPARE_SECRET_KEY") from None
        if len(self._cache) >= CACHE_KEYS:
            self._cache.popitem(last=False)  # the one cached first
        held = self._cache[owner] = Held(AESGCM(key), bound, time.monotonic())
        return held

    def _new_key(self, owner: str) -> Held | None:
        """Store a new key for the owner; return the one stored (another process may have
        added one first), None when the owner was erased."""
        self.keys.add(owner, _text(self._wrap(owner, AESGCM.generate_key(256))))
        return self._held(owner)

    def _wrap(self, owner: str, key: bytes) -> bytes:
        """Return a key encrypted by the secret key's wrapping key, bound to its owner."""
        nonce = os.urandom(NONCE)
        return nonce + self._wrapper.encrypt(nonce, key, UUID(owner).bytes)


def _text(blob: bytes) -> str:
    return base64.b64encode(blob).decode()
